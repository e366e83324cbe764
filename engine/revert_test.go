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

// After sentinel's rollback, someone changes the image back while the
// incident is open: the incident is told who and, for a GitOps
// controller, where the fix belongs; sentinel does not roll back again.
func TestRevertedRollbackIsReportedNeverFought(t *testing.T) {
	cases := []struct {
		name       string
		manager    string
		rolledBack time.Duration // before the revert
		want       []string      // notices
	}{
		{name: "Argo CD syncs the bad image back", manager: "argocd-controller", rolledBack: time.Minute,
			want: []string{"argocd-controller changed the image to cart:2 after sentinel's rollback at 09:11:00; not rolling back again: managed by argocd-controller: revert it in Git"}},
		{name: "Flux syncs it back", manager: "kustomize-controller", rolledBack: time.Minute,
			want: []string{"kustomize-controller changed the image to cart:2 after sentinel's rollback at 09:11:00; not rolling back again: managed by kustomize-controller: revert it in Git"}},
		{name: "a person redoes the change", manager: "kubectl-set", rolledBack: time.Minute,
			want: []string{"kubectl-set changed the image to cart:2 after sentinel's rollback at 09:11:00; not rolling back again"}},
		{name: "a rollback past the cooldown is not this incident's", manager: "argocd-controller", rolledBack: 31 * time.Minute},
		{name: "sentinel's own write is no revert", manager: rollback.FieldManager, rolledBack: time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exec, out := &executor{}, &collect{}
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
			e := New(config.Default(), src, exec, out, zap.NewNop())
			d1 := deployment("1", "1", "cart:1", "helm", t0)
			e.ObserveDeployment(d1, t0)
			e.ObserveReplicaSet(replicaSet(d1, "cart-1"))
			revertAt := t0.Add(12 * time.Minute)
			for now := t0; now.Before(t0.Add(30 * time.Minute)); now = now.Add(15 * time.Second) {
				switch {
				case now.Equal(t0.Add(10 * time.Minute)):
					d2 := deployment("2", "2", "cart:2", "kubectl-set", now)
					e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
					e.ObserveDeployment(d2, now)
				case now.Equal(t0.Add(11*time.Minute + 30*time.Second)):
					// sentinel's rollback as the API server shows it.
					d3 := deployment("3", "3", "cart:1", rollback.FieldManager, now)
					d3.Annotations[rollback.AnnotationRolledBackAt] = now.Format(time.RFC3339)
					e.ObserveDeployment(d3, now)
				case now.Equal(revertAt):
					d4 := deployment("4", "4", "cart:2", tc.manager, now)
					d4.Annotations[rollback.AnnotationRolledBackAt] = revertAt.Add(-tc.rolledBack).Format(time.RFC3339)
					e.ObserveDeployment(d4, now)
				}
				_ = e.Poll(t.Context(), now)
			}
			var notices []string
			for _, a := range out.actions {
				if a.Kind == incident.RollbackReverted {
					notices = append(notices, a.Message)
					if a.Incident != out.actions[0].Incident {
						t.Errorf("notice on incident %q, want the page's %q", a.Incident, out.actions[0].Incident)
					}
				}
			}
			if diff := cmp.Diff(tc.want, notices); diff != "" {
				t.Errorf("notices (-want +got):\n%s", diff)
			}
			if len(exec.plans) != 1 {
				t.Errorf("%d rollbacks, want exactly the first", len(exec.plans))
			}
		})
	}
}
