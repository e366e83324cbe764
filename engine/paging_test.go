package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
)

// With the API server unreachable no replica holds the Lease: a replica
// that sees no leader pages (and resolves) by itself, under the shared
// dedup key, but rolls nothing back; once it leads it decides again and
// rolls back, in the same incident.
func TestPagesWithoutTheLeaseAndRollsBackOnceLeading(t *testing.T) {
	exec := &executor{}
	out := &collect{}
	leader, leaderless := false, false
	src := script(func(at time.Time) ([]detector.Observation, error) {
		ratio := 0.01
		if at.After(t0.Add(10 * time.Minute)) {
			ratio = 0.9
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 40 * ratio}}, nil
	})
	e := New(config.Default(), src, exec, out, zap.NewNop(),
		WithActive(func() bool { return leader }), WithPaging(func() bool { return leaderless }))
	d1 := deployment("1", "1", "cart:1", "helm", t0)
	e.ObserveDeployment(d1, t0)
	e.ObserveReplicaSet(replicaSet(d1, "cart-1"))
	outage, leads := t0.Add(10*time.Minute), t0.Add(13*time.Minute)
	for now := t0; now.Before(t0.Add(15 * time.Minute)); now = now.Add(15 * time.Second) {
		if now.Equal(t0.Add(10 * time.Minute)) {
			d2 := deployment("2", "2", "cart:2", "kubectl-set", now)
			e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
			e.ObserveDeployment(d2, now)
		}
		leaderless = !now.Before(outage) && now.Before(leads)
		leader = !now.Before(leads)
		if now.Before(leads) && len(exec.plans) > 0 {
			t.Fatalf("rolled back without the Lease at %v", now)
		}
		_ = e.Poll(t.Context(), now)
	}
	type seen struct {
		Kind     incident.Kind
		Incident string
		Reason   rollback.Reason
	}
	var got []seen
	for _, a := range out.actions {
		got = append(got, seen{a.Kind, a.Incident, a.Decision.Reason})
	}
	id := out.actions[0].Incident
	want := []seen{
		{incident.Page, id, rollback.ReasonNoLease},        // while leaderless
		{incident.Page, id, rollback.ReasonOutOfBandImage}, // decided again once leading
		{incident.Rollback, id, rollback.ReasonOutOfBandImage},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if len(exec.plans) != 1 {
		t.Errorf("%d rollbacks, want 1", len(exec.plans))
	}
	if out.actions[0].At.After(t0.Add(11 * time.Minute)) {
		t.Errorf("paged at %v: want within a minute of the failure, without the Lease", out.actions[0].At)
	}
}
