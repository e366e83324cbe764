package simulate_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/notify/pagerduty"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// negative finds a duration said the wrong way round: "-645 s after".
var negative = regexp.MustCompile(`-\d+ [ms]\b`)

// TestAdversaryReopenedExplainsItself: an incident resolves and its
// errors begin again within reopen_within, on a revision a change made
// during the incident created — sentinel's own rollback, or a person's
// fix — or, without revision labels, after a fix pushed once the errors
// had begun. The reopened page must tell the truth in the text, the JSON
// and the PagerDuty payload alike: no negative times, the change placed
// before the errors began again and after the incident's began, blame and
// decision agreeing, and a change its first page did not blame never
// blamed (nor rolled back over) when it reopens.
func TestAdversaryReopenedExplainsItself(t *testing.T) {
	cases := []struct {
		name     string
		noLabels bool
		setup    func(api *scenariogen.Workload)
		want     reopenVerdict
	}{
		{"sentinel's rollback fails too", false, func(api *scenariogen.Workload) {
			api.SetImage(at(10, 0), "kubectl-set", "registry.example/api:2")
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.9})
			api.RolloutUndo(at(11, 45), "sentinel", 1) // what the page's rollback writes
			api.Fail(scenariogen.Failure{Revisions: []int64{3}, From: at(20, 0), Code: "500", Ratio: 0.9})
		}, reopenVerdict{Rollbacks: 1, Blame: "created_after_errors", Reason: "no_linked_change"}},
		{"no labels/sentinel's rollback fails too", true, func(api *scenariogen.Workload) {
			api.SetImage(at(10, 0), "kubectl-set", "registry.example/api:2")
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.9})
			api.RolloutUndo(at(11, 45), "sentinel", 1)
			api.Fail(scenariogen.Failure{Revisions: []int64{3}, From: at(20, 0), Code: "500", Ratio: 0.9})
		}, reopenVerdict{Rollbacks: 1, Blame: "before_errors", Blamed: 2, Reason: "incident_limit"}},
		{"a fix pushed during the incident fails later", false, func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(15, 0), To: at(16, 30), Code: "500", Ratio: 0.9})
			api.SetImage(at(16, 0), "kubectl-set", "registry.example/api:2")
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, From: at(26, 0), Code: "500", Ratio: 0.9})
		}, reopenVerdict{Blame: "created_after_errors", Reason: "no_linked_change"}},
		{"no labels/a fix pushed once the errors had begun fails later", true, func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(15, 0), To: at(16, 0), Code: "500", Ratio: 0.9})
			api.SetImage(at(15, 30), "kubectl-set", "registry.example/api:2")
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, From: at(26, 0), Code: "500", Ratio: 0.9})
		}, reopenVerdict{Blame: "no_change_before_errors", Reason: "no_linked_change"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			tc.setup(api)
			dir := advWrite(t, s)
			if tc.noLabels {
				withoutPodLabel(t, dir, allSeries)
			}
			cfg := config.Default()
			var got notify.Collect
			var text, js, pd bytes.Buffer
			out := notify.Tee{&got, notify.Text{W: &text}, notify.JSON{W: &js}, pagerduty.Writer{W: &pd, Paging: cfg.Paging}}
			if _, err := simulate.Run(t.Context(), dir, cfg, out); err != nil {
				t.Fatal(err)
			}
			for name, b := range map[string]*bytes.Buffer{"text": &text, "json": &js, "pagerduty": &pd} {
				if m := negative.FindString(b.String()); m != "" {
					t.Errorf("%s output says %q:\n%s", name, m, b.String())
				}
			}
			first, again := pagesOf(t, got.Actions)
			if first == nil || again == nil {
				t.Fatalf("want a page and its reopened page, got %v and %v", first, again)
			}
			v := verdictOf(got.Actions, again)
			if diff := cmp.Diff(tc.want, v); diff != "" {
				t.Errorf("reopened page (-want +got):\n%s", diff)
			}
			checkReopened(t, first, again)
		})
	}
}

// reopenVerdict is what the reopened page of shop/api decided.
type reopenVerdict struct {
	Rollbacks int    // in the whole incident
	Blame     string // the reopened page's rule
	Blamed    int64  // the revision its cause created; 0 when none
	Reason    string // its rollback decision's reason
}

func verdictOf(actions []incident.Action, again *incident.Action) reopenVerdict {
	v := reopenVerdict{Blame: string(again.Evidence.Blame), Reason: string(again.Decision.Reason)}
	if again.Cause != nil {
		v.Blamed = again.Cause.Revision
	}
	for _, a := range actions {
		if a.Kind == incident.Rollback && a.Incident == again.Incident {
			v.Rollbacks++
		}
	}
	return v
}

// pagesOf returns shop/api's first page and its first reopened page.
func pagesOf(t *testing.T, actions []incident.Action) (first, again *incident.Action) {
	t.Helper()
	for i, a := range actions {
		if a.Kind != incident.Page || a.Workload.Name != "api" {
			continue
		}
		t.Logf("%s %s\n  why: %s", a.At.Format("15:04:05"), a.Summary(), a.Evidence.Why)
		switch {
		case first == nil:
			first = &actions[i]
		case again == nil && a.Evidence.Reopened && a.Incident == first.Incident:
			again = &actions[i]
		}
	}
	return first, again
}

// checkReopened holds a reopened page to what its first page said.
func checkReopened(t *testing.T, first, again *incident.Action) {
	t.Helper()
	ev := again.Details().Evidence
	if ev.IncidentErrorsBegan == nil || !ev.IncidentErrorsBegan.Equal(first.Evidence.Began) {
		t.Errorf("incident_errors_began %v, want the first page's errors_began %s", ev.IncidentErrorsBegan, first.Evidence.Began)
	}
	if !strings.Contains(ev.Why, "again") {
		t.Errorf("why %q does not say the errors began again", ev.Why)
	}
	for _, c := range first.Evidence.Later {
		if again.Cause != nil && again.Cause.At.Equal(c.At) && again.Cause.Revision == c.Revision {
			t.Errorf("the reopened page blames revision %d's change, which its first page did not blame", c.Revision)
		}
	}
	for _, c := range ev.Later {
		if !c.At.After(*ev.IncidentErrorsBegan) {
			t.Errorf("change at %s listed after the errors began at %s", c.At, *ev.IncidentErrorsBegan)
		}
	}
	blamed := ev.Blame == string(evidence.RuleFailingRevision) || ev.Blame == string(evidence.RuleBeforeErrors)
	if blamed != (again.Cause != nil) {
		t.Errorf("blame %s with cause %v", ev.Blame, again.Cause)
	}
	if again.Cause == nil && again.Decision.Reason != rollback.ReasonNoLinkedChange {
		t.Errorf("no cause, yet decision %s", again.Decision.Reason)
	}
	b, err := json.Marshal(again.Details())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"incident_errors_began":"`+first.Evidence.Began.UTC().Format(time.RFC3339)+`"`)) {
		t.Errorf("JSON lacks the incident's errors_began: %s", b)
	}
}
