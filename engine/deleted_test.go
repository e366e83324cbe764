package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/incident"
)

// A failing Deployment is deleted: its incident resolves saying so, and
// what its pods served before they went — still in the rate window for a
// minute — opens no new incident that nothing would ever resolve.
func TestDeletedDeploymentsLeftoverMetricsOpenNothing(t *testing.T) {
	deletedAt := t0.Add(time.Minute)
	src := script(func(at time.Time) ([]detector.Observation, error) {
		if at.After(deletedAt.Add(time.Minute)) {
			return []detector.Observation{{Workload: detector.Workload{Namespace: "shop", Name: "web"}, Requests: 10}}, nil // cart's series are gone
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 36}, {Workload: detector.Workload{Namespace: "shop", Name: "web"}, Requests: 10}}, nil
	})
	out := &collect{}
	e := New(config.Default(), src, &executor{}, out, zap.NewNop())
	e.ObserveDeployment(deployment("1", "1", "cart:1", "helm", t0), t0)
	for at := t0; at.Before(t0.Add(5 * time.Minute)); at = at.Add(15 * time.Second) {
		if at.Equal(deletedAt) {
			e.DeleteDeployment("shop", "cart")
		}
		_ = e.Poll(t.Context(), at)
	}
	type seen struct {
		Kind    incident.Kind
		Message string
	}
	var got []seen
	for _, a := range out.actions {
		got = append(got, seen{a.Kind, a.Message})
	}
	want := []seen{{incident.Page, ""}, {incident.Resolve, "the Deployment was deleted"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if s := e.Stats(); s.Incidents != 1 {
		t.Errorf("%d incidents opened, want 1", s.Incidents)
	}
}
