package incident

import (
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/history"
)

// TestWhatNamesOnlyRevisionsThatFailed: the page's "failing:" phrase
// names a revision as failing only when its own pods failed, and never
// says "no per-revision metrics" of series that carry revision labels.
func TestWhatNamesOnlyRevisionsThatFailed(t *testing.T) {
	began := time.Date(2026, 6, 2, 10, 16, 0, 0, time.UTC)
	rev := func(n int64, requests, ratio float64) evidence.Revision {
		return evidence.Revision{ReplicaSet: history.ReplicaSet{Name: "api-" + string(rune('a'+n)), Revision: n},
			Requests: requests, Failures: requests * ratio}
	}
	cause := &history.Change{Revision: 2, At: began.Add(-time.Minute), Manager: "kubectl-set", ImageChanged: true}
	later := history.Change{Revision: 3, At: began.Add(time.Minute), Manager: "sentinel", ImageChanged: true}
	tests := []struct {
		name  string
		ev    evidence.Workload
		blame evidence.Blame
		want  string
	}{
		{"the revision whose pods failed first",
			evidence.Workload{Revisions: []evidence.Revision{rev(2, 28.7, 0.96)}},
			evidence.Blame{Began: began, HasFailing: true, Failing: rev(2, 28.7, 0.96), Cause: cause, Rule: evidence.RuleFailingRevision},
			"revision 2 failed first (revision 2 96% at 28.7 req/s)"},
		{"old pods unlabelled fail, the new revision blamed by timing serves 0%",
			evidence.Workload{Revisions: []evidence.Revision{rev(2, 13, 0.002)}, Unlabelled: 25.1},
			evidence.Blame{Began: began, Cause: cause, Rule: evidence.RuleBeforeErrors},
			"the workload as a whole (revision 2 0% at 13.0 req/s, 25.1 req/s without a revision label)"},
		{"new pods fail, old pods unlabelled: why the revision rule was not applied",
			evidence.Workload{Revisions: []evidence.Revision{rev(2, 28.7, 0.96)}, Unlabelled: 10.2, Whole: evidence.WholeUnlabelled},
			evidence.Blame{Began: began, HasFailing: true, Failing: rev(2, 28.7, 0.96), Cause: cause, Rule: evidence.RuleFailingRevision},
			"revision 2 failed first (revision 2 96% at 28.7 req/s, 10.2 req/s without a revision label); " +
				"judged as a whole: old pods unlabelled, their health unknown"},
		{"labels that name a ReplicaSet that is gone",
			evidence.Workload{Unresolved: []detector.RevisionTraffic{{Revision: "api-5f5f5f5f5f", Requests: 28.7, Failures: 27.5}}},
			evidence.Blame{Began: began, Cause: cause, Rule: evidence.RuleBeforeErrors},
			"the workload as a whole (labels name ReplicaSet api-5f5f5f5f5f, which is gone, 96% at 28.7 req/s)"},
		{"no revision labels: the revision the blamed change created",
			evidence.Workload{},
			evidence.Blame{Began: began, Cause: cause, Rule: evidence.RuleBeforeErrors},
			"revision 2 (no per-revision metrics: judged as a whole)"},
		{"no revision labels, the template changed since the blamed change: no revision named",
			evidence.Workload{},
			evidence.Blame{Began: began, Cause: cause, Rule: evidence.RuleBeforeErrors, Later: []history.Change{later}},
			"the workload as a whole (no per-revision metrics)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEvidence(detector.Finding{Onset: began}, tt.ev, tt.blame)
			if got := e.What(); got != tt.want {
				t.Errorf("What() = %q, want %q", got, tt.want)
			}
		})
	}
}
