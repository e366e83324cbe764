package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/source"
)

// A replica that starts in the middle of an incident — a restart, a
// rollout of sentinel itself — replays the metrics history first: it
// knows revision 1 was healthy (cold, it would page without a rollback
// target) and finds the incident's own onset, so its page carries the
// incident id (and dedup key) the replica that watched it all used.
func TestWarmUpKnowsHealthAndTheIncident(t *testing.T) {
	failing := func(at time.Time) bool {
		return at.After(t0.Add(10*time.Minute+15*time.Second)) && at.Before(t0.Add(20*time.Minute))
	}
	src := script(func(at time.Time) ([]detector.Observation, error) {
		ratio := 0.01
		if failing(at) {
			ratio = 0.9
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 40 * ratio}}, nil
	})
	// The replica that watched from the start.
	watched, _ := runScenario(t, "kubectl-set", &executor{}, nil)

	type page struct {
		Incident string
		Reason   rollback.Reason
	}
	start := t0.Add(11 * time.Minute) // the incident is under way
	for _, tc := range []struct {
		name   string
		warmUp time.Duration
		want   page
	}{
		{"warm", 15 * time.Minute, page{Incident: watched.actions[0].Incident, Reason: rollback.ReasonOutOfBandImage}},
		{"cold", 0, page{Incident: "shop/cart@" + start.Format(time.RFC3339), Reason: rollback.ReasonNoHealthyTarget}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Run.WarmUp = tc.warmUp
			out := &collect{}
			e := New(cfg, src, &executor{}, out, zap.NewNop())
			// What the informers list at start: both revisions.
			d1, d2 := deployment("1", "1", "cart:1", "helm", t0), deployment("2", "2", "cart:2", "kubectl-set", t0.Add(10*time.Minute))
			e.ObserveReplicaSet(scaled(replicaSet(d1, "cart-1"), 0))
			e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
			e.ObserveDeployment(d2, start)
			e.WarmUp(t.Context(), start)
			if len(out.actions) != 0 {
				t.Fatalf("warming up told %d actions", len(out.actions))
			}
			for at := start; at.Before(start.Add(2 * time.Minute)); at = at.Add(15 * time.Second) {
				_ = e.Poll(t.Context(), at)
			}
			var got []page
			for _, a := range out.actions {
				if a.Kind == incident.Page {
					got = append(got, page{a.Incident, a.Decision.Reason})
				}
			}
			if diff := cmp.Diff([]page{tc.want}, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}
}

// scaled is rs wanting n pods.
func scaled(rs *appsv1.ReplicaSet, n int32) *appsv1.ReplicaSet {
	rs.Spec.Replicas = &n
	return rs
}

// TestWarmUpGivesUpOnADownSource: a source that leaves blind_after
// instants in a row unanswered ends the warm-up, so the live polls, which
// declare blindness, start at once; fewer failures in a row, or empty
// answers, are skipped and the warm-up goes on.
func TestWarmUpGivesUpOnADownSource(t *testing.T) {
	start := t0.Add(time.Hour)
	down := errors.New("query prometheus: context deadline exceeded")
	tests := []struct {
		name string
		// fails says what the source answers at the i-th instant asked.
		fails     func(i int) error
		wantAsked int
	}{
		{"down", func(int) error { return down }, 4},
		{"down after a while", func(i int) error {
			if i >= 10 {
				return down
			}
			return nil
		}, 14},
		{"three failures in a row, then answers", func(i int) error {
			if i < 3 {
				return down
			}
			return nil
		}, 60},
		{"no data", func(int) error { return source.ErrNoData }, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := 0
			src := script(func(time.Time) ([]detector.Observation, error) {
				err := tt.fails(asked)
				asked++
				if err != nil {
					return nil, err
				}
				return []detector.Observation{{Workload: cart, Requests: 40, Failures: 0.4}}, nil
			})
			cfg := config.Default() // warm_up 15m of 15s polls: 60 instants; blind_after 4
			e := New(cfg, src, &executor{}, &collect{}, zap.NewNop())
			e.WarmUp(t.Context(), start)
			if asked != tt.wantAsked {
				t.Errorf("asked the source %d instants, want %d", asked, tt.wantAsked)
			}
		})
	}
}
