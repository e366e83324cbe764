package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/guard"
)

// An image change that breaks glass is reported as one notice naming who
// and why, instead of a drift notice, whether or not drift notices are on;
// a reason left on the Deployment from an earlier emergency is not
// reported again, and an annotation without an image change is none.
func TestBreakGlassNotice(t *testing.T) {
	glass := func(d *appsv1.Deployment, reason string) *appsv1.Deployment {
		d.Annotations[guard.BreakGlassAnnotation] = reason
		d.Annotations[guard.BreakGlassByAnnotation] = "alice"
		return d
	}
	tests := []struct {
		name  string
		drift bool
		steps []*appsv1.Deployment // observed a minute apart
		want  []string
	}{
		{
			name:  "break glass with drift notices off",
			steps: []*appsv1.Deployment{deployment("1", "1", "cart:1", "helm", t0), glass(deployment("2", "2", "cart:2", "kubectl-patch", t0), "INC-42 hotfix")},
			want:  []string{"break glass: image changed to cart:2 past the admission guard by kubectl-patch (user alice): INC-42 hotfix"},
		},
		{
			name:  "break glass replaces the drift notice",
			drift: true,
			steps: []*appsv1.Deployment{deployment("1", "1", "cart:1", "helm", t0), glass(deployment("2", "2", "cart:2", "kubectl-patch", t0), "INC-42 hotfix")},
			want:  []string{"break glass: image changed to cart:2 past the admission guard by kubectl-patch (user alice): INC-42 hotfix"},
		},
		{
			name:  "an old reason is a drift, not a new break glass",
			drift: true,
			steps: []*appsv1.Deployment{glass(deployment("1", "1", "cart:1", "helm", t0), "INC-41"), glass(deployment("2", "2", "cart:2", "kubectl-set", t0), "INC-41")},
			want:  []string{"drift: image changed outside the trusted deployers by kubectl-set to cart:2"},
		},
		{
			name:  "an annotation without an image change",
			steps: []*appsv1.Deployment{deployment("1", "1", "cart:1", "helm", t0), glass(deployment("2", "1", "cart:1", "kubectl-annotate", t0), "why not")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Paging.PagerDuty.DriftNotices = tt.drift
			out := &collect{}
			e := New(cfg, script(func(time.Time) ([]detector.Observation, error) { return nil, nil }), &executor{}, out, zap.NewNop())
			for i, d := range tt.steps {
				e.ObserveDeployment(d, t0.Add(time.Duration(i)*time.Minute))
			}
			_ = e.Poll(t.Context(), t0.Add(5*time.Minute))
			var got []string
			for _, a := range out.actions {
				got = append(got, a.Kind.Action()+": "+strings.TrimPrefix(a.Summary(), a.Workload.String()+": "))
			}
			var want []string
			for _, m := range tt.want {
				want = append(want, "notice: "+m)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}
