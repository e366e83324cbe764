package incident

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
)

var (
	onset = time.Date(2026, 4, 24, 23, 50, 20, 0, time.UTC)
	me    = detector.Workload{Namespace: "scale-deploy", Name: "model-engine"}
	good  = []history.Image{{Container: "app", Image: "registry.example/scale/model-engine:f395ffa6e1c24b7a"}}
	bad   = []history.Image{{Container: "app", Image: "registry.example/scale/model-engine:04729cef9d3a11e2"}}
)

func page(decision rollback.Decision, cause *history.Change) Action {
	return Action{At: onset.Add(55 * time.Second), Kind: Page, Workload: me, Onset: onset, Ratio: 0.97,
		Requests: 40, FailureCodes: "5..", Cause: cause, Decision: decision}
}

func TestSummaries(t *testing.T) {
	setImage := &history.Change{Revision: 2, Manager: "kubectl-set", ImageChanged: true, ImagesBefore: good, ImagesAfter: bad}
	plan := &rollback.Plan{Workload: me, FromRevision: 2, ToRevision: 1, FromImages: bad, ToImages: good}
	cases := []struct {
		name string
		a    Action
		want string
	}{
		{"page and rollback", page(rollback.Decision{Rollback: true, Plan: plan}, setImage),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after kubectl set image (kubectl-set) to model-engine:04729cef…; rolling back to model-engine:f395ffa6…"},
		{"helm release, no rollback", page(rollback.Decision{Reason: rollback.ReasonTrustedDeployer},
			&history.Change{Revision: 2, Manager: "helm", ImageChanged: true, ImagesAfter: bad}),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after a Helm release (helm) to model-engine:04729cef…; not rolled back: the change was made by a trusted deployer; its release process owns the fix"},
		{"env change", page(rollback.Decision{Reason: rollback.ReasonNotImageChange},
			&history.Change{Manager: "kubectl-set", Fields: []string{"containers[app].env"}}),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20 after kubectl set (kubectl-set) of containers[app].env; not rolled back: the linked change did not change an image"},
		{"no cause", page(rollback.Decision{Reason: rollback.ReasonNoLinkedChange}, nil),
			"scale-deploy/model-engine: 97% of requests failing (5xx) since 23:50:20; not rolled back: no change of this Deployment in the link window before onset"},
		{"rollback", Action{Kind: Rollback, Workload: me, Plan: plan},
			"scale-deploy/model-engine: rolled back from revision 2 (model-engine:04729cef…) to revision 1 (model-engine:f395ffa6…)"},
		{"resolve", Action{Kind: Resolve, Workload: me, Ratio: 0.004, Requests: 39.5, FailureCodes: "5.."},
			"scale-deploy/model-engine: resolved, 0.4% of requests failing (5xx) at 39.5 req/s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Summary(); got != tc.want {
				t.Errorf("summary\n got %s\nwant %s", got, tc.want)
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

func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(page(rollback.Decision{Reason: rollback.ReasonNoLinkedChange}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if v, ok := m["cause"]; !ok || v != nil {
		t.Errorf("a page without cause must carry \"cause\": null, got %s", b)
	}
	if m["at"] != "2026-04-24T23:51:15Z" || m["action"] != "page" || m["error_ratio"] != 0.97 {
		t.Errorf("page json %s", b)
	}
	b, _ = json.Marshal(Action{Kind: Resolve, Workload: me, At: onset})
	if strings.Contains(string(b), `"cause"`) {
		t.Errorf("a resolve carries cause: %s", b)
	}
}
