package incident

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
)

func TestChangeSummaries(t *testing.T) {
	push := history.Change{Workload: me, At: onset, Revision: 2, Manager: "kubectl-set", ImageChanged: true,
		ImagesBefore: good, ImagesAfter: bad}
	glass := push
	glass.Manager = "kubectl-patch"
	unknown := push
	unknown.Manager = ""
	sidecar := history.Change{Workload: me, At: onset, Manager: "argocd-controller", ImageChanged: true,
		ImagesBefore: pod("v1", "3.0"), ImagesAfter: pod("v1", "3.1")}
	rb := page(rollback.Decision{}, &push)
	rb.Kind, rb.Incident = Rollback, "scale-deploy/model-engine@2026-04-24T23:50:20Z"
	rb.Plan = &rollback.Plan{Workload: me, FromRevision: 2, ToRevision: 1, FromImages: bad, ToImages: good}
	for _, tt := range []struct {
		name string
		a    Action
		want string
	}{
		{"push", ChangeOf(onset, push, "", ""), "scale-deploy/model-engine: image changed by kubectl-set to model-engine:04729cef…"},
		{"break glass", ChangeOf(onset, glass, "alice", ""), "scale-deploy/model-engine: image changed by kubectl-patch (user alice) to model-engine:04729cef…"},
		{"no manager", ChangeOf(onset, unknown, "", ""), "scale-deploy/model-engine: image changed by an unknown manager to model-engine:04729cef…"},
		{"sidecar", ChangeOf(onset, sidecar, "", ""), "scale-deploy/model-engine: image changed by argocd-controller of container fluentbit from fluent-bit:3.0 to fluent-bit:3.1"},
		{"rollback", RollbackChange(rb), "scale-deploy/model-engine: sentinel rolled back from revision 2 (model-engine:04729cef…) to revision 1 (model-engine:f395ffa6…)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Summary(); got != tt.want {
				t.Errorf("summary\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// A change renders as kind change with its cause and user; a rollback's
// change adds its incident and plan, its cause by sentinel.
func TestChangeDetails(t *testing.T) {
	push := history.Change{Workload: me, At: onset, Revision: 2, Manager: "kubectl-patch", ImageChanged: true,
		Fields: []string{"containers[app].image"}, ImagesBefore: good, ImagesAfter: bad}
	rb := Action{At: onset.Add(time.Minute), Kind: Rollback, Workload: me, Incident: "i",
		Plan: &rollback.Plan{Workload: me, FromRevision: 2, ToRevision: 1, FromImages: bad, ToImages: good}}
	type view struct {
		Action, Kind, Incident, User, Manager string
		Images, Changed                       []string
		ToRevision                            int64
	}
	viewOf := func(a Action) view {
		var d struct {
			Action, Kind, Incident, User string
			Cause                        struct {
				Manager string
				Images  []string
				Changed []string
			}
			ToRevision int64 `json:"to_revision"`
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		return view{d.Action, d.Kind, d.Incident, d.User, d.Cause.Manager, d.Cause.Images, d.Cause.Changed, d.ToRevision}
	}
	got := []view{viewOf(ChangeOf(onset, push, "alice", "")), viewOf(RollbackChange(rb))}
	want := []view{
		{Action: "change", Kind: "change", User: "alice", Manager: "kubectl-patch", Images: []string{bad[0].Image}, Changed: []string{"containers[app].image"}},
		{Action: "change", Kind: "change", Incident: "i", Manager: "sentinel", Images: []string{good[0].Image}, Changed: []string{"containers[app].image"}, ToRevision: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
}
