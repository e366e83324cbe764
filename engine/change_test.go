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
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
)

// changeConfig is the default configuration with change events on.
func changeConfig() config.Config {
	cfg := config.Default()
	cfg.Paging.PagerDuty.ChangeEvents = true
	return cfg
}

// told lists actions as "kind: summary without the workload".
func told(as []incident.Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind.String()+": "+strings.TrimPrefix(a.Summary(), a.Workload.String()+": "))
	}
	return out
}

// With change events on, the push that causes an incident is told as it
// is seen, before the page, and sentinel's rollback as it is written,
// after the rollback's own report; a trusted deployer's push is told too.
// A dry-run rollback changes nothing and is not.
func TestChangesAroundAnIncident(t *testing.T) {
	dryRun := changeConfig()
	dryRun.Rollback.DryRun = true
	for _, tt := range []struct {
		name    string
		cfg     config.Config
		manager string
		want    []string
	}{
		{"out-of-band push", changeConfig(), "kubectl-set", []string{
			"change: image changed by kubectl-set to cart:2",
			"page: 90% of requests failing (5xx) since 09:10:30 after kubectl set image (kubectl-set) to cart:2; rolling back to cart:1",
			"rollback: rolled back from revision 2 (cart:2) to revision 1 (cart:1)",
			"change: sentinel rolled back from revision 2 (cart:2) to revision 1 (cart:1)",
			"resolve: resolved, 1.0% of requests failing (5xx) at 40.0 req/s",
		}},
		{"helm release", changeConfig(), "helm", []string{
			"change: image changed by helm to cart:2",
			"page: 90% of requests failing (5xx) since 09:10:30 after a Helm release (helm) to cart:2; not rolled back: the change was made by a trusted deployer; its release process owns the fix",
			"resolve: resolved, 1.0% of requests failing (5xx) at 40.0 req/s",
		}},
		{"dry run", dryRun, "kubectl-set", []string{
			"change: image changed by kubectl-set to cart:2",
			"page: 90% of requests failing (5xx) since 09:10:30 after kubectl set image (kubectl-set) to cart:2; would roll back to cart:1 (dry-run)",
			"rollback: would roll back (dry-run) from revision 2 (cart:2) to revision 1 (cart:1)",
			"resolve: resolved, 1.0% of requests failing (5xx) at 40.0 req/s",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := &collect{}
			runScenarioConfig(t, tt.cfg, out, tt.manager, &executor{}, nil)
			if diff := cmp.Diff(tt.want, told(out.actions)); diff != "" {
				t.Fatalf("actions (-want +got):\n%s", diff)
			}
			push := out.actions[0]
			if push.Cause == nil || !push.Cause.At.Equal(t0.Add(10*time.Minute)) || push.Cause.Revision != 2 || push.Incident != "" {
				t.Errorf("push: cause %+v, incident %q; want the change of revision 2 at 09:10, no incident", push.Cause, push.Incident)
			}
			if len(out.actions) == 5 {
				rb, change := out.actions[2], out.actions[3]
				if change.Incident != rb.Incident || change.Plan != rb.Plan || change.Cause.Manager != rollback.FieldManager {
					t.Errorf("rollback's change: incident %q, plan %v, manager %q; want the rollback's, by sentinel",
						change.Incident, change.Plan, change.Cause.Manager)
				}
			}
		})
	}
}

// Which observed changes are told: image changes by anyone but sentinel
// (whose rollbacks are told as written), naming the user when the change
// broke glass; not a change of anything else, and nothing with change
// events off.
func TestChangesObserved(t *testing.T) {
	glass := func(d *appsv1.Deployment) *appsv1.Deployment {
		d.Annotations[guard.BreakGlassAnnotation] = "INC-42 hotfix"
		d.Annotations[guard.BreakGlassByAnnotation] = "alice"
		return d
	}
	env := deployment("2", "1", "cart:1", "kubectl-set", t0)
	env.Spec.Template.Labels["tier"] = "web"
	for _, tt := range []struct {
		name string
		off  bool
		next *appsv1.Deployment
		want []string
	}{
		{name: "a push", next: deployment("2", "2", "cart:2", "kubectl-set", t0),
			want: []string{"change: image changed by kubectl-set to cart:2"}},
		{name: "with change events off", off: true, next: deployment("2", "2", "cart:2", "kubectl-set", t0)},
		{name: "a rollback by sentinel, seen", next: deployment("2", "2", "cart:2", rollback.FieldManager, t0)},
		{name: "no image change", next: env},
		{name: "break glass", next: glass(deployment("2", "2", "cart:2", "kubectl-patch", t0)), want: []string{
			"change: image changed by kubectl-patch (user alice) to cart:2",
			"break_glass: break glass: image changed to cart:2 past the admission guard by kubectl-patch (user alice): INC-42 hotfix",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := changeConfig()
			cfg.Paging.PagerDuty.ChangeEvents = !tt.off
			out := &collect{}
			e := New(cfg, script(func(time.Time) ([]detector.Observation, error) { return nil, nil }), &executor{}, out, zap.NewNop())
			e.ObserveDeployment(deployment("1", "1", "cart:1", "helm", t0), t0)
			e.ObserveDeployment(tt.next, t0.Add(time.Minute))
			_ = e.Poll(t.Context(), t0.Add(2*time.Minute))
			if diff := cmp.Diff(tt.want, told(out.actions)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			for _, a := range out.actions {
				if a.Kind == incident.Change && a.RunbookURL != cfg.Paging.RunbookURL {
					t.Errorf("change without the runbook: %q", a.RunbookURL)
				}
			}
		})
	}
}

// A replica that does not lead tells no change: the leader does, once.
func TestStandbyTellsNoChange(t *testing.T) {
	out := &collect{}
	e := New(changeConfig(), script(func(time.Time) ([]detector.Observation, error) { return nil, nil }), &executor{}, out,
		zap.NewNop(), WithActive(func() bool { return false }))
	e.ObserveDeployment(deployment("1", "1", "cart:1", "helm", t0), t0)
	e.ObserveDeployment(deployment("2", "2", "cart:2", "kubectl-set", t0), t0.Add(time.Minute))
	_ = e.Poll(t.Context(), t0.Add(2*time.Minute))
	if len(out.actions) != 0 {
		t.Errorf("a standby told %v", told(out.actions))
	}
}
