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

// A replica that did not watch the revision a bad change replaced (it
// started later than run.warm_up reaches back) finds no rollback target
// at the first page. It looks back at the metrics of the instants before
// the change: a revision healthy there for healthy.min_duration is a
// target, and the incident is paged again, rolling back; one that failed,
// served too little or too briefly is not.
func TestLookBackFindsTheLastHealthyRevision(t *testing.T) {
	change := t0.Add(30 * time.Minute)
	start := change.Add(time.Minute) // cold, after the change
	for _, tc := range []struct {
		name string
		// before is the ratio and rate revision 1 served at an instant
		// before the change.
		before func(at time.Time) (ratio, rate float64)
		// canary: the metrics say which pods served, and before the
		// change a canary's pods failed every request beside revision 1's.
		canary bool
		want   []rollback.Reason
		plans  int
	}{{
		name:   "healthy before the change",
		before: func(time.Time) (float64, float64) { return 0.01, 40 },
		want:   []rollback.Reason{rollback.ReasonNoHealthyTarget, rollback.ReasonOutOfBandImage},
		plans:  1,
	}, {
		name:   "failing just before the change",
		before: func(at time.Time) (float64, float64) { return when(at.After(change.Add(-time.Minute)), 0.9, 0.01), 40 },
		want:   []rollback.Reason{rollback.ReasonNoHealthyTarget},
	}, {
		name:   "too little traffic to judge",
		before: func(time.Time) (float64, float64) { return 0.01, 0.001 },
		want:   []rollback.Reason{rollback.ReasonNoHealthyTarget},
	}, {
		name: "healthy for less than healthy.min_duration",
		before: func(at time.Time) (float64, float64) {
			return when(at.After(change.Add(-3*time.Minute)), 0.01, 0.3), 40
		},
		want: []rollback.Reason{rollback.ReasonNoHealthyTarget},
	}, {
		name:   "judged by its own pods where the metrics say which served",
		before: func(time.Time) (float64, float64) { return 0.01, 40 },
		canary: true,
		want:   []rollback.Reason{rollback.ReasonNoHealthyTarget, rollback.ReasonOutOfBandImage},
		plans:  1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := script(func(at time.Time) ([]detector.Observation, error) {
				ratio, rate := 0.9, 40.0
				if at.Before(change) {
					ratio, rate = tc.before(at)
				}
				o := detector.Observation{Workload: cart, Requests: rate, Failures: rate * ratio}
				if tc.canary && at.Before(change) {
					o.Revisions = []detector.RevisionTraffic{{Revision: "cart-1", Requests: rate, Failures: rate * ratio},
						{Revision: "cart-canary", Requests: rate, Failures: rate}}
					o.Requests, o.Failures = 2*rate, rate*(1+ratio)
				}
				return []detector.Observation{o}, nil
			})
			cfg := config.Default()
			cfg.Run.WarmUp = 0
			out, exec := &collect{}, &executor{}
			e := New(cfg, src, exec, out, zap.NewNop())
			d1, d2 := deployment("1", "1", "cart:1", "helm", t0), deployment("2", "2", "cart:2", "kubectl-set", change)
			e.ObserveReplicaSet(scaled(replicaSet(d1, "cart-1"), 0))
			e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
			e.ObserveDeployment(d2, start)
			for at := start; at.Before(start.Add(3 * time.Minute)); at = at.Add(15 * time.Second) {
				_ = e.Poll(t.Context(), at)
			}
			var got []rollback.Reason
			for _, a := range out.actions {
				if a.Kind == incident.Page {
					got = append(got, a.Decision.Reason)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pages' decisions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.plans, len(exec.plans)); diff != "" {
				t.Errorf("rollbacks (-want +got):\n%s", diff)
			}
		})
	}
}

func when(cond bool, yes, no float64) float64 {
	if cond {
		return yes
	}
	return no
}
