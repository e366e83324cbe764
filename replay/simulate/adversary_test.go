package simulate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// TestAdversaryBlameTiming: every pod of shop/api starts failing 90% at
// 10:15:00 (a dependency broke: old and new pods alike), and someone runs
// `kubectl set image` near that moment. A change made when the errors had
// already begun cannot have caused them; one made well before can be
// blamed (sentinel cannot tell a coincidence from a cause then). With the
// pod label, old pods failing first say it; without it, only the clock
// can.
func TestAdversaryBlameTiming(t *testing.T) {
	notBlamed := verdict{Pages: 1, Incidents: 1}
	cases := []struct {
		name     string
		offset   time.Duration // of the change from when the errors began
		noLabels bool
		want     verdict
	}{
		{"labels/change 60s before", -time.Minute, false,
			verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{"labels/change as errors begin", 0, false, withRule(notBlamed, "older_revision_failing")},
		{"labels/change 1s after", time.Second, false, withRule(notBlamed, "older_revision_failing")},
		{"labels/change at the first poll that sees errors", 15 * time.Second, false, withRule(notBlamed, "older_revision_failing")},
		{"labels/change 16s after", 16 * time.Second, false, withRule(notBlamed, "older_revision_failing")},
		{"no labels/change 60s before", -time.Minute, true,
			verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "before_errors", Blamed: 2}},
		{"no labels/change 16s after", 16 * time.Second, true, withRule(notBlamed, "no_change_before_errors")},
		{"no labels/change 30s after", 30 * time.Second, true, withRule(notBlamed, "no_change_before_errors")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			began := at(15, 0)
			api.Fail(scenariogen.Failure{From: began, Code: "500", Ratio: 0.9})
			api.SetImage(began.Add(tc.offset), "kubectl-set", "registry.example/api:2")
			dir := advWrite(t, s)
			if tc.noLabels {
				withoutPodLabel(t, dir, allSeries)
			}
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "api")); diff != "" {
				t.Errorf("change %s from errors (-want +got):\n%s", tc.offset, diff)
			}
		})
	}
}

// TestAdversaryWithoutLabelsBlamesChangesUpToTheFirstFailingPoll: without
// revision labels, the errors start at 10:15:00 and the first poll to see
// them is 10:15:15. A change made up to that poll is taken for the cause —
// timing is all there is to go on, and managedFields times are whole
// seconds, so a change stamped with the poll's own second may have come
// just before it. Only revision labels tell a person's fix pushed within
// that poll interval from the cause; a real rollout cannot show errors
// that fast anyway (its pods must start, and the rate window needs two
// samples of them). docs/detection.md says so.
func TestAdversaryWithoutLabelsBlamesChangesUpToTheFirstFailingPoll(t *testing.T) {
	notBlamed := verdict{Pages: 1, Incidents: 1, Blame: "no_change_before_errors"}
	blamed := verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "before_errors", Blamed: 2}
	cases := []struct {
		name   string
		offset time.Duration
		want   verdict
	}{
		{"change 1s after the errors start, before the poll that sees them", time.Second, blamed},
		{"change 14s after, still before that poll", 14 * time.Second, blamed},
		{"change at the first poll that sees errors", 15 * time.Second, blamed},
		{"change a second after that poll", 16 * time.Second, notBlamed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			began := at(15, 0)
			api.Fail(scenariogen.Failure{From: began, Code: "500", Ratio: 0.9})
			api.SetImage(began.Add(tc.offset), "kubectl-set", "registry.example/api:2")
			dir := advWrite(t, s)
			withoutPodLabel(t, dir, allSeries)
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "api")); diff != "" {
				t.Errorf("change %s after errors (-want +got):\n%s", tc.offset, diff)
			}
		})
	}
}

func withRule(v verdict, rule string) verdict {
	v.Blame = rule
	return v
}

// TestAdversaryFixIsNeverRolledBackToTheFailingRevision: revision 1's own
// pods start failing 90% at 10:15:00 and a person pushes a fix with
// `kubectl set image` 30 s later. Whether the fix works or fails too,
// sentinel must never roll the fix back to the revision that was already
// failing. Variants: with and without labels, a rolling fix, and labels
// only on the fix's pods.
func TestAdversaryFixIsNeverRolledBackToTheFailingRevision(t *testing.T) {
	cases := []struct {
		name      string
		fixFails  bool
		rolling   time.Duration
		labels    string // all, none, new (only the fix's pods carry the pod label)
		wantPages int
	}{
		{"labels/fix works", false, 0, "all", 1},
		{"labels/fix fails too", true, 0, "all", 1},
		{"no labels/fix works", false, 0, "none", 1},
		{"no labels/fix fails too", true, 0, "none", 1},
		{"labels/rolling fix fails too", true, 30 * time.Second, "all", 1},
		{"no labels/rolling fix fails too", true, 30 * time.Second, "none", 1},
		{"labels on the fix's pods only/fix fails too", true, 0, "new", 1},
		{"labels on the fix's pods only/rolling fix fails too", true, 30 * time.Second, "new", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(tc.rolling)
			f := scenariogen.Failure{From: at(15, 0), Code: "500", Ratio: 0.9, Revisions: []int64{1}}
			if tc.fixFails {
				f.Revisions = nil
			}
			api.Fail(f)
			api.SetImage(at(15, 30), "kubectl-set", "registry.example/api:2")
			dir := advWrite(t, s)
			switch tc.labels {
			case "none":
				withoutPodLabel(t, dir, allSeries)
			case "new":
				oldPodsUnlabelled(t, dir)
			}
			got := advReplay(t, dir, "api")
			want := verdict{Pages: tc.wantPages, Incidents: 1, Blame: got.Blame}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Blame == "failing_revision" || got.Blame == "before_errors" {
				t.Errorf("the fix was blamed (%s): a change made after the errors began", got.Blame)
			}
		})
	}
}

func containsPod(series, pod string) bool {
	return len(pod) > 0 && contains(series, fmt.Sprintf(`pod="%s"`, pod))
}
