package simulate_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/replay/trace"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
	"github.com/sentinel-sre/sentinel/workload"
)

// TestAdversaryPartialRevisionLabels: revision labels on some series only
// — the old pods' series unlabelled, or naming a ReplicaSet that is gone.
// Whatever sentinel decides, what it says must hold: the trace says why
// the revision rule was not applied, a page never says a revision "failed
// first" when its own pods did not fail, and never says "no per-revision
// metrics" when the labels are there.
func TestAdversaryPartialRevisionLabels(t *testing.T) {
	api := workload.Ref{Namespace: "shop", Name: "api"}
	cases := []struct {
		name  string
		setup func(api *scenariogen.Workload)
		// labels rewrites the recording's revision labels.
		labels func(t *testing.T, dir string)
		// trace is said on the trace line of some poll; what on the page.
		trace, what string
	}{
		{"rolling update, old pods unlabelled, new pods fail", func(api *scenariogen.Workload) {
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.95})
		}, oldPodsUnlabelled, "judged as a whole: old pods unlabelled", "req/s without a revision label"},
		{"rolling update, old pods unlabelled fail, new pods healthy", func(api *scenariogen.Workload) {
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(15, 40), Code: "500", Ratio: 0.95})
		}, oldPodsUnlabelled, "req/s without a revision label", "the workload as a whole (revision 2 0%"},
		{"labels name a ReplicaSet that is gone", func(api *scenariogen.Workload) {
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.95})
		}, renameReplicaSet("api-7dd58b66c4", "api-5f5f5f5f5f"), "labels name ReplicaSet api-5f5f5f5f5f, which is gone",
			"labels name ReplicaSet api-5f5f5f5f5f, which is gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, w := advScenario(time.Minute)
			tc.setup(w)
			dir := advWrite(t, s)
			tc.labels(t, dir)
			cfg := config.Default()
			var got notify.Collect
			var tr bytes.Buffer
			tracer := trace.New(&tr, api, cfg)
			if _, err := simulate.Replay(t.Context(), dir, cfg, &got,
				simulate.Options{Engine: []engine.Option{engine.WithPollHook(tracer.Hook)}}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tr.String(), tc.trace) {
				t.Errorf("no trace line says %q:\n%s", tc.trace, tr.String())
			}
			pages := 0
			for _, a := range got.Actions {
				if a.Kind != incident.Page || a.Workload != api {
					continue
				}
				pages++
				what := a.Evidence.What()
				t.Logf("%s\n  failing: %s\n  why: %s", a.Summary(), what, a.Evidence.Why)
				if !strings.Contains(what, tc.what) {
					t.Errorf("failing: %q, want it to say %q", what, tc.what)
				}
				if strings.Contains(what, "no per-revision metrics") {
					t.Errorf("failing: %q, although the series carry revision labels", what)
				}
				checkFailedFirst(t, a.Evidence, cfg)
			}
			if pages == 0 {
				t.Fatal("no page: the test proves nothing")
			}
		})
	}
}

var failedFirst = regexp.MustCompile(`revision (\d+) failed first`)

// checkFailedFirst: a revision said to have failed first failed: its own
// ratio at the page, when listed, is above the healthy band, and the JSON
// names it as the failing revision.
func checkFailedFirst(t *testing.T, ev *incident.Evidence, cfg config.Config) {
	t.Helper()
	m := failedFirst.FindStringSubmatch(ev.What())
	if m == nil {
		return
	}
	if fmt.Sprint(ev.FailingRevision) != m[1] {
		t.Errorf("says revision %s failed first, failing_revision is %d", m[1], ev.FailingRevision)
	}
	for _, r := range ev.Revisions {
		if fmt.Sprint(r.Revision) == m[1] && r.ErrorRatio != nil && *r.ErrorRatio <= cfg.Rollback.Healthy.MaxErrorRatio {
			t.Errorf("says revision %s failed first, its pods serve %.1f%%: %s", m[1], *r.ErrorRatio*100, ev.What())
		}
	}
}

// oldPodsUnlabelled strips the revision label from the series of the pods
// that served first.
func oldPodsUnlabelled(t *testing.T, dir string) {
	t.Helper()
	old := podsAt(t, dir, "api", advStart)
	withoutPodLabel(t, dir, func(s string) bool {
		for p := range old {
			if seriesOf("api")(s) && containsPod(s, p) {
				return true
			}
		}
		return false
	})
}

// renameReplicaSet makes the pod labels of one ReplicaSet's pods name
// another, which no object of the recording is.
func renameReplicaSet(from, to string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		rewriteMetrics(t, dir, func(s string, _ time.Time) (string, bool) {
			return strings.ReplaceAll(s, `pod="`+from+`-`, `pod="`+to+`-`), true
		})
	}
}
