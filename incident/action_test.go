package incident

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

var (
	onset = time.Date(2026, 4, 24, 23, 50, 20, 0, time.UTC)
	me    = workload.Ref{Namespace: "scale-deploy", Name: "model-engine"}
	good  = []history.Image{{Container: "app", Image: "registry.example/scale/model-engine:f395ffa6e1c24b7a"}}
	bad   = []history.Image{{Container: "app", Image: "registry.example/scale/model-engine:04729cef9d3a11e2"}}
)

func page(decision rollback.Decision, cause *history.Change) Action {
	return Action{At: onset.Add(55 * time.Second), Kind: Page, Workload: me, Onset: onset, Ratio: 0.97,
		Requests: 40, FailureCodes: "5..", Cause: cause, Decision: decision}
}

// pod is an app with a log sidecar.
func pod(app, sidecar string) []history.Image {
	return []history.Image{{Container: "app", Image: "registry.example/app:" + app},
		{Container: "fluentbit", Image: "fluent/fluent-bit:" + sidecar}}
}

// wide is a Deployment of n containers, each image tagged tag.
func wide(n int, tag string) []history.Image {
	out := make([]history.Image, n)
	for i := range out {
		out[i] = history.Image{Container: fmt.Sprintf("c%02d", i), Image: fmt.Sprintf("registry.example/team/c%02d:%s", i, tag)}
	}
	return out
}

func TestSummaries(t *testing.T) {
	setImage := &history.Change{Revision: 2, Manager: "kubectl-set", ImageChanged: true, ImagesBefore: good, ImagesAfter: bad}
	plan := &rollback.Plan{Workload: me, FromRevision: 2, ToRevision: 1, FromImages: bad, ToImages: good}
	sidecar := &history.Change{Revision: 5, Manager: "kubectl-set", ImageChanged: true,
		ImagesBefore: pod("v1", "3.0"), ImagesAfter: pod("v1", "3.1")}
	sidecarPlan := &rollback.Plan{Workload: me, FromRevision: 5, ToRevision: 4, FromImages: pod("v1", "3.1"), ToImages: pod("v1", "3.0")}
	dryRun := *plan
	dryRun.DryRun = true
	tests := []struct {
		name string
		a    Action
		want string
	}{
		{"page and rollback", page(rollback.Decision{Plan: plan}, setImage),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after kubectl set image (kubectl-set) to model-engine:04729cef…; rolling back to model-engine:f395ffa6…"},
		{"page, dry run", page(rollback.Decision{Plan: &dryRun}, setImage),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after kubectl set image (kubectl-set) to model-engine:04729cef…; would roll back to model-engine:f395ffa6… (dry-run)"},
		{"helm release, no rollback", page(rollback.Decision{Reason: rollback.ReasonTrustedDeployer},
			&history.Change{Revision: 2, Manager: "helm", ImageChanged: true, ImagesAfter: bad}),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after a Helm release (helm) to model-engine:04729cef…; not rolled back: the change was made by a trusted deployer; its release process owns the fix"},
		{"env change", page(rollback.Decision{Reason: rollback.ReasonNotImageChange},
			&history.Change{Manager: "kubectl-set", Fields: []string{"containers[app].env"}}),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after kubectl set (kubectl-set) of containers[app].env; not rolled back: the linked change did not change an image"},
		{"a change no manager is named for", page(rollback.Decision{Reason: rollback.ReasonUnattributed},
			&history.Change{Revision: 2, ImageChanged: true, ImagesBefore: good, ImagesAfter: bad}),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after a change by an unknown manager to model-engine:04729cef…; not rolled back: who made the change cannot be told from managedFields, so it may have been a trusted deployer"},
		{"no cause", page(rollback.Decision{Reason: rollback.ReasonNoLinkedChange}, nil),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20; not rolled back: no change in the link window is to blame"},
		{"sidecar-only change", page(rollback.Decision{Plan: sidecarPlan}, sidecar),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after kubectl set image (kubectl-set) of container fluentbit from fluent-bit:3.0 to fluent-bit:3.1; rolling back to revision 4 of container fluentbit from fluent-bit:3.1 to fluent-bit:3.0"},
		{"rollback", Action{Kind: Rollback, Workload: me, Plan: plan},
			"scale-deploy/model-engine: rolled back from revision 2 (model-engine:04729cef…) to revision 1 (model-engine:f395ffa6…)"},
		{"dry-run rollback", Action{Kind: Rollback, Workload: me, Plan: &dryRun},
			"scale-deploy/model-engine: would roll back (dry-run) from revision 2 (model-engine:04729cef…) to revision 1 (model-engine:f395ffa6…)"},
		{"sidecar rollback", Action{Kind: Rollback, Workload: me, Plan: sidecarPlan},
			"scale-deploy/model-engine: rolled back from revision 5 to revision 4 of container fluentbit from fluent-bit:3.1 to fluent-bit:3.0"},
		{"rollback without a plan", Action{Kind: Rollback, Workload: me}, "scale-deploy/model-engine: rolled back"},
		{"resolve", Action{Kind: Resolve, Workload: me, Ratio: 0.004, Requests: 39.5, FailureCodes: "5.."},
			"scale-deploy/model-engine: resolved, 0.4% of requests failing (5xx) at 39.5 req/s"},
		{"resolve of a deleted Deployment", Action{Kind: Resolve, Workload: me, Ratio: 0.9, Message: "the Deployment was deleted"},
			"scale-deploy/model-engine: resolved: the Deployment was deleted"},
		{"drift", Action{Kind: Drift, Workload: me, Cause: sidecar},
			"scale-deploy/model-engine: drift: image changed outside the trusted deployers by kubectl-set of container fluentbit from fluent-bit:3.0 to fluent-bit:3.1"},
		{"drift, 50 containers", Action{Kind: Drift, Workload: me, Cause: &history.Change{ImageChanged: true,
			ImagesBefore: wide(50, "v1"), ImagesAfter: wide(50, "v2")}},
			"scale-deploy/model-engine: drift: image changed outside the trusted deployers by an unknown manager of containers c00 from c00:v1 to c00:v2, c01 from c01:v1 to c01:v2, c02 from c02:v1 to c02:v2 and 47 more"},
		{"blind", Action{Kind: Blind, Message: "blind: the metrics source has not answered for 4 polls"},
			"sentinel: blind: the metrics source has not answered for 4 polls"},
		{"sighted", Action{Kind: Sighted, Message: "the metrics source answers again"},
			"sentinel: resolved: the metrics source answers again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.a.Summary()); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShortImage(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example/cart:2.3.0": "cart:2.3.0",
		"nginx":                       "nginx",
		"reg:5000/team/app@sha256:0123456789abcdef": "app@sha256:01234567…",
		"reg:5000/team/app":                         "app",
	} {
		if got := ShortImage(in); got != want {
			t.Errorf("ShortImage(%q) = %q, want %q", in, got, want)
		}
	}
}

// render is a's JSON as a generic map.
func render(t *testing.T, a Action) map[string]any {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("marshal %s: %v", a.Kind, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJSONShape(t *testing.T) {
	sidecar := &history.Change{Manager: "kubectl-set", ImageChanged: true, At: onset,
		ImagesBefore: pod("v1", "3.0"), ImagesAfter: pod("v1", "3.1"), Fields: []string{"containers[fluentbit].image"}}
	tests := []struct {
		name string
		a    Action
		want map[string]any // the fields checked
	}{
		{"page without cause", page(rollback.Decision{Reason: rollback.ReasonNoLinkedChange}, nil),
			map[string]any{"at": "2026-04-24T23:51:15Z", "action": "page", "kind": "page", "error_ratio": 0.97, "cause": nil}},
		{"resolve has no cause", Action{Kind: Resolve, Workload: me, At: onset},
			map[string]any{"action": "resolve", "kind": "resolve", "cause": "<absent>"}},
		{"drift: changed container only, revision unknown left out", Action{Kind: Drift, Workload: me, At: onset, Cause: sidecar},
			map[string]any{"action": "notice", "kind": "drift", "error_ratio": "<absent>", "cause": map[string]any{
				"at": "2026-04-24T23:50:20Z", "manager": "kubectl-set", "via_helm": false, "image_changed": true,
				"images": []any{"fluent/fluent-bit:3.1"}, "previous_images": []any{"fluent/fluent-bit:3.0"},
				"image_changes": []any{map[string]any{"container": "fluentbit", "from": "fluent/fluent-bit:3.0", "to": "fluent/fluent-bit:3.1"}},
				"changed":       []any{"containers[fluentbit].image"}}}},
		{"not a number left out", Action{Kind: Page, Workload: me, Incident: "i", Ratio: math.NaN(), Requests: math.Inf(1)},
			map[string]any{"error_ratio": "<absent>", "request_rate": "<absent>"}},
		{"failed rollback", Action{Kind: RollbackFailed, Workload: me, Incident: "i", Message: "conflict",
			Plan: &rollback.Plan{FromRevision: 2, ToRevision: 1, FromImages: bad, ToImages: good}},
			map[string]any{"action": "notice", "kind": "rollback_failed", "from_revision": 2.0, "to_revision": 1.0,
				"to_images": []any{good[0].Image}, "from_images": []any{bad[0].Image}, "message": "conflict"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := render(t, tt.a)
			got := map[string]any{}
			for k := range tt.want {
				v, ok := m[k]
				if !ok {
					v = "<absent>"
				}
				got[k] = v
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("json fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWideChangeIsBounded: a change of fifty containers renders in a
// bounded size, naming the containers that changed.
func TestWideChangeIsBounded(t *testing.T) {
	change := &history.Change{Revision: 3, Manager: "kubectl-set", ImageChanged: true,
		ImagesBefore: wide(50, "v1"), ImagesAfter: wide(50, "v2")}
	plan := &rollback.Plan{FromRevision: 3, ToRevision: 2, FromImages: wide(50, "v2"), ToImages: wide(50, "v1")}
	for _, a := range []Action{page(rollback.Decision{Plan: plan}, change),
		{Kind: Rollback, Workload: me, Incident: "i", Plan: plan}, {Kind: Drift, Workload: me, Cause: change}} {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Summary()) > 400 || len(b) > 3072 {
			t.Errorf("%s: summary of %d bytes, JSON of %d bytes; want at most 400 and 3072", a.Kind, len(a.Summary()), len(b))
		}
	}
}
