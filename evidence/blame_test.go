package evidence

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
)

func change(rev int64, at time.Time, manager string) history.Change {
	return history.Change{Workload: cart, At: at, Revision: rev, Manager: manager, ImageChanged: true}
}

// blameCase is one failure and the changes around it.
type blameCase struct {
	name      string
	ev        Workload
	changes   []history.Change
	wantCause int64 // revision of the blamed change; 0: none
	wantRule  Rule
	wantLater int
	wantWhy   string
	// began is when the incident's errors began as its first page found
	// them; zero: this is the first page.
	began time.Time
}

// blameCases fail at poll 1 (23:50:15) and are detected at poll 3.
func blameCases() []blameCase {
	deps := &fakeDeployments{rollout: history.Rollout{Replicas: 3, Available: 3, StatusKnown: true}}
	// evidence after polls of traffic (workload-level when rev is "").
	evidence := func(polls ...[]traffic) Workload {
		tr := New(opts())
		for i, p := range polls {
			tr.Poll(at(i), []detector.Observation{obs(p...)}, deps)
		}
		ev, _ := tr.Evidence(cart)
		return ev
	}
	healthy, failing := []traffic{{"", 40, 0.01}}, []traffic{{"", 40, 0.9}}
	reopened := func(rev string) Workload {
		return evidence([]traffic{{"", 40, 0.01}}, []traffic{{"", 40, 0.9}}, []traffic{{"", 40, 0.9}}, []traffic{{"", 40, 0.9}},
			healthy, healthy, []traffic{{rev, 40, 0.9}}, []traffic{{rev, 40, 0.9}})
	}
	bFails := evidence([]traffic{{"aaa", 40, 0.01}}, []traffic{{"aaa", 36, 0.01}, {"bbb", 4, 0.95}},
		[]traffic{{"aaa", 30, 0.01}, {"bbb", 10, 0.95}}, []traffic{{"aaa", 20, 0.01}, {"bbb", 20, 0.95}})
	return []blameCase{{
		name:      "without per-revision metrics, a change by the last healthy poll is the cause",
		ev:        evidence(healthy, failing, failing, failing),
		changes:   []history.Change{change(2, at(0), "kubectl-set")},
		wantCause: 2, wantRule: RuleBeforeErrors,
		wantWhy: "the change came 15 s before the errors began at 23:50:15",
	}, {
		name:      "a change between the last healthy poll and the errors is before them: the cause",
		ev:        evidence(healthy, failing, failing, failing),
		changes:   []history.Change{change(2, at(0).Add(5*time.Second), "kubectl-set")},
		wantCause: 2, wantRule: RuleBeforeErrors,
		wantWhy: "the change came 10 s before the errors began at 23:50:15",
	}, {
		name:      "a change stamped with the second the errors began is before them: the cause",
		ev:        evidence(healthy, failing, failing, failing),
		changes:   []history.Change{change(2, at(1), "kubectl-set")},
		wantCause: 2, wantRule: RuleBeforeErrors,
		wantWhy: "the change came 0 s before the errors began at 23:50:15",
	}, {
		name:     "a change after the errors began is reported and never blamed",
		ev:       evidence(healthy, failing, failing, failing),
		changes:  []history.Change{change(2, at(1).Add(25*time.Second), "kubectl-set")},
		wantRule: RuleNoChange, wantLater: 1,
		wantWhy: "no change in the link window before the errors began at 23:50:15; " +
			"image changed by kubectl-set 25 s after errors began: not blamed",
	}, {
		name: "the newest change before the errors is blamed, the one after is reported",
		ev:   evidence(healthy, failing, failing, failing),
		changes: []history.Change{change(2, at(0).Add(-3*time.Minute), "kubectl-set"),
			change(3, at(2), "kubectl-set")},
		wantCause: 2, wantRule: RuleBeforeErrors, wantLater: 1,
		wantWhy: "the change came 3 m 15 s before the errors began at 23:50:15; " +
			"image changed by kubectl-set 15 s after errors began: not blamed",
	}, {
		name:      "with per-revision metrics the change that created the failing revision is the cause",
		ev:        bFails,
		changes:   []history.Change{change(2, at(0), "kubectl-set")},
		wantCause: 2, wantRule: RuleFailingRevision,
		wantWhy: "errors are on revision 2, which this change created 15 s before they began at 23:50:15",
	}, {
		name:     "a change stamped after onset is not blamed, even for the failing revision",
		ev:       bFails,
		changes:  []history.Change{change(2, at(3).Add(10*time.Second), "")},
		wantRule: RuleCreatedAfterErrors, wantLater: 1,
		wantWhy: "errors began at 23:50:15 on revision 2, which a change made after the incident's errors began at 23:50:15 created; " +
			"image changed by an unknown manager 40 s after errors began: not blamed",
	}, {
		name: "old pods failing before a fix was pushed: the push is not blamed",
		ev: evidence([]traffic{{"aaa", 40, 0.01}}, []traffic{{"aaa", 40, 0.9}},
			[]traffic{{"aaa", 30, 0.9}, {"bbb", 10, 0.01}}, []traffic{{"aaa", 20, 0.9}, {"bbb", 20, 0.01}}),
		changes:  []history.Change{change(2, at(1).Add(10*time.Second), "kubectl-set")},
		wantRule: RuleOlderRevisionFailing, wantLater: 1,
		wantWhy: "errors began at 23:50:15 on revision 1, which no change in the link window created; " +
			"image changed by kubectl-set 10 s after errors began: not blamed",
	}, {
		name: "old pods degraded first, the new revision failed later: a change between is placed after the workload's errors",
		ev: evidence([]traffic{{"aaa", 40, 0.01}}, []traffic{{"aaa", 40, 0.1}}, []traffic{{"aaa", 36, 0.1}, {"bbb", 4, 0.01}},
			[]traffic{{"aaa", 30, 0.1}, {"bbb", 10, 0.95}}),
		changes:   []history.Change{change(2, at(1), "kubectl-set"), {Workload: cart, At: at(2), Revision: 3, Manager: "kubectl-edit"}},
		wantCause: 2, wantRule: RuleFailingRevision, wantLater: 1,
		wantWhy: "errors are on revision 2, which this change created 30 s before they began at 23:50:45; " +
			"template changed by kubectl-edit 15 s after the errors began at 23:50:15: not blamed",
	}, {
		name:     "reopened: a change after the incident's errors began is not blamed, before they began again",
		ev:       reopened(""),
		began:    at(1),
		changes:  []history.Change{change(2, at(2), "kubectl-set")},
		wantRule: RuleNoChange, wantLater: 1,
		wantWhy: "no change in the link window before the incident's errors began at 23:50:15; they began again at 23:51:30; " +
			"image changed by kubectl-set 1 m before the errors began again, 15 s after the incident's errors began: not blamed",
	}, {
		name:      "reopened: the change before the incident's errors is still the cause",
		ev:        reopened(""),
		began:     at(1),
		changes:   []history.Change{change(2, at(0), "kubectl-set"), change(3, at(4), "sentinel")},
		wantCause: 2, wantRule: RuleBeforeErrors, wantLater: 1,
		wantWhy: "the change came 15 s before the incident's errors began at 23:50:15; they began again at 23:51:30; " +
			"image changed by sentinel 30 s before the errors began again, 45 s after the incident's errors began: not blamed",
	}, {
		name:     "reopened on the revision sentinel's rollback created: not blamed",
		ev:       reopened("bbb"),
		began:    at(1),
		changes:  []history.Change{change(2, at(4), "sentinel")},
		wantRule: RuleCreatedAfterErrors, wantLater: 1,
		wantWhy: "errors began again at 23:51:30 on revision 2, which a change made after the incident's errors began at 23:50:15 created; " +
			"image changed by sentinel 30 s before the errors began again, 45 s after the incident's errors began: not blamed",
	}, {
		name:     "reopened on a revision no change in the window created",
		ev:       reopened("bbb"),
		began:    at(1),
		changes:  nil,
		wantRule: RuleOlderRevisionFailing,
		wantWhy:  "errors began again at 23:51:30 on revision 2, which no change in the link window created",
	}}
}

func TestBlameChange(t *testing.T) {
	onset := at(3)
	for _, tc := range blameCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := BlameChange(tc.ev, Incident{Onset: onset, Began: tc.began}, tc.changes)
			var cause int64
			if b.Cause != nil {
				cause = b.Cause.Revision
			}
			type result struct {
				Cause int64
				Rule  Rule
				Later int
				Why   string
			}
			want := result{tc.wantCause, tc.wantRule, tc.wantLater, tc.wantWhy}
			if diff := cmp.Diff(want, result{cause, b.Rule, len(b.Later), b.Explain()}); diff != "" {
				t.Errorf("blame (-want +got):\n%s", diff)
			}
		})
	}
}
