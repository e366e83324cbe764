package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// A failing Deployment is deleted: its incident resolves saying so, and
// what its pods served before they went — still in the rate window for a
// minute, or served by terminating pods for their grace period — opens
// no new incident that nothing would ever resolve. A workload of the same
// name reported long after is another one, and is judged.
func TestDeletedDeploymentsLeftoverMetricsOpenNothing(t *testing.T) {
	deletedAt := t0.Add(time.Minute)
	type seen struct {
		Kind    incident.Kind
		Message string
	}
	resolved := []seen{{incident.Page, ""}, {incident.Resolve, "the Deployment was deleted"}}
	for _, tc := range []struct {
		name      string
		reported  time.Duration // how long after the delete cart's failing series are still reported
		want      []seen
		incidents int
	}{
		{"leftover in the rate window", time.Minute, resolved, 1},
		{"terminating pods serving for three minutes", 3 * time.Minute, resolved, 1},
		{"still reported long after: another workload of the same name", 30 * time.Minute,
			append(resolved, seen{incident.Page, ""}), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web := detector.Observation{Workload: workload.Ref{Namespace: "shop", Name: "web"}, Requests: 10}
			src := script(func(at time.Time) ([]detector.Observation, error) {
				if at.After(deletedAt.Add(tc.reported)) {
					return []detector.Observation{web}, nil // cart's series are gone
				}
				return []detector.Observation{{Workload: cart, Requests: 40, Failures: 36}, web}, nil
			})
			out := &collect{}
			e := New(config.Default(), src, &executor{}, out, zap.NewNop())
			e.ObserveDeployment(deployment("1", "1", "cart:1", "helm", t0), t0)
			for at := t0; at.Before(t0.Add(40 * time.Minute)); at = at.Add(15 * time.Second) {
				if at.Equal(deletedAt) {
					e.DeleteDeployment("shop", "cart")
				}
				_ = e.Poll(t.Context(), at)
			}
			var got []seen
			for _, a := range out.actions {
				got = append(got, seen{a.Kind, a.Message})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(e.metrics.incidentsTotal); got != float64(tc.incidents) {
				t.Errorf("sentinel_incidents_total %v, want %d", got, tc.incidents)
			}
		})
	}
}
