package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// A workload stops serving after a Helm upgrade (no replica available:
// paged, not rolled back), then its Deployment is scaled to zero, or a
// failing one is scaled to zero and its metrics go. It wants nothing, so
// nothing fails: the incident resolves resolve_after later, saying why,
// and nothing opens again while it stays at zero.
func TestScaledToZeroResolvesItsIncident(t *testing.T) {
	web := workload.Ref{Namespace: "shop", Name: "web"}
	const stop, scale = 10 * time.Minute, 12 * time.Minute
	for _, tc := range []struct {
		name  string
		ratio float64 // cart's failure ratio while it serves
		basis detector.Basis
	}{
		{"stopped serving, then scaled to zero", 0.01, detector.BasisStopped},
		{"failing, then scaled to zero", 0.9, detector.BasisWorkload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := script(func(at time.Time) ([]detector.Observation, error) {
				obs := []detector.Observation{{Workload: web, Requests: 10}} // a neighbour keeps the answer non-empty
				if at.Before(t0.Add(stop)) {
					obs = append(obs, detector.Observation{Workload: cart, Requests: 40, Failures: 40 * tc.ratio})
				}
				return obs, nil
			})
			out := &collect{}
			e := New(config.Default(), src, &executor{}, out, zap.NewNop())
			d1, d2 := deployment("1", "1", "cart:1", "helm", t0), deployment("2", "2", "cart:2", "helm", t0.Add(5*time.Minute))
			e.ObserveReplicaSet(scaled(replicaSet(d1, "cart-1"), 0))
			e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
			e.ObserveDeployment(wanting(d2, 1), t0.Add(5*time.Minute))
			for at := t0.Add(5 * time.Minute); at.Before(t0.Add(30 * time.Minute)); at = at.Add(15 * time.Second) {
				if at.Equal(t0.Add(scale)) {
					e.ObserveDeployment(wanting(deployment("3", "2", "cart:2", "helm", t0.Add(5*time.Minute)), 0), at)
				}
				_ = e.Poll(t.Context(), at)
			}
			if diff := cmp.Diff([]incident.Kind{incident.Page, incident.Resolve}, kinds(out.actions)); diff != "" {
				t.Fatalf("actions (-want +got):\n%s", diff)
			}
			page := out.actions[0]
			if page.Evidence == nil || page.Evidence.Basis != tc.basis {
				t.Errorf("page evidence %v, want basis %q", page.Evidence, tc.basis)
			}
			want := noticeView{Kind: incident.Resolve, At: t0.Add(scale + e.cfg.Detection.ResolveAfter), Incident: page.Incident,
				Message: scaledToZeroMessage}
			if diff := cmp.Diff(want, viewNotices(out.actions)[1]); diff != "" {
				t.Errorf("resolve (-want +got):\n%s", diff)
			}
		})
	}
}

// wanting is d wanting n replicas, none available, as the Deployment
// controller reports it.
func wanting(d *appsv1.Deployment, n int32) *appsv1.Deployment {
	d.Spec.Replicas = &n
	d.Status.ObservedGeneration = 1
	d.Status.Replicas = n
	return d
}
