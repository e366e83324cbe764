package simulate_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// TestAdversaryElevatedOldPodsKeepHealthOnlyThroughADrain: a rolling
// `kubectl set image` whose new pods fail 95% while the old pods answer a
// few 503s of their own — while being drained during the rollout, or
// chronically at 8% since before the change (above the healthy band, far
// below the line). The errors are plainly on the revision the change
// created. A drain's few minutes of 503s leave revision 1 the target it
// earned; five minutes at 8% (above rollback.healthy.max_error_ratio)
// before the push make it no longer healthy: the page blames revision 2
// and rolls nothing back.
func TestAdversaryElevatedOldPodsKeepHealthOnlyThroughADrain(t *testing.T) {
	cases := []struct {
		name string
		old  scenariogen.Failure
		want verdict
	}{
		{"old pods drain with 10% 503s during the rollout",
			scenariogen.Failure{Revisions: []int64{1}, From: at(15, 0), To: at(19, 30), Code: "503", Ratio: 0.1},
			verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{"old pods at 8% 503s since 10:10",
			scenariogen.Failure{Revisions: []int64{1}, From: at(10, 0), Code: "503", Ratio: 0.08},
			verdict{Pages: 1, Incidents: 1, Blame: "failing_revision", Blamed: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(time.Minute)
			api.Fail(tc.old)
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.95})
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			if diff := cmp.Diff(tc.want, advReplay(t, advWrite(t, s), "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdversaryDegradedRevisionIsNoRollbackTarget: revision 1 earns
// health, then serves 40% errors for six minutes (above the healthy band,
// below the page line); a fix, revision 2, serves cleanly for three
// minutes (too short to be a target), and then a bad revision 3 is pushed.
// The last time revision 1 served it was not healthy: no target.
func TestAdversaryDegradedRevisionIsNoRollbackTarget(t *testing.T) {
	for _, noLabels := range []bool{false, true} {
		name := map[bool]string{false: "labels", true: "no labels"}[noLabels]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(9, 0), Code: "500", Ratio: 0.4})
			api.Fail(scenariogen.Failure{Revisions: []int64{3}, Code: "500", Ratio: 0.95})
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			api.SetImage(at(18, 0), "kubectl-set", "registry.example/api:3")
			dir := advWrite(t, s)
			if noLabels {
				withoutPodLabel(t, dir, allSeries)
			}
			got := advReplay(t, dir, "api")
			want := verdict{Pages: 1, Incidents: 1, Blame: got.Blame, Blamed: 3}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdversaryNewChangeAfterResolveIsANewIncident: a bad image is rolled
// back by hand (the replay does not apply sentinel's), the incident
// resolves, and ten minutes later another bad image is pushed. With a
// 5-minute cooldown the second bad image is a new incident and is rolled
// back; it must not be merged into the first, whose one rollback is spent.
func TestAdversaryNewChangeAfterResolveIsANewIncident(t *testing.T) {
	s, api := advScenario(0)
	api.Fail(scenariogen.Failure{Revisions: []int64{2, 4}, Code: "500", Ratio: 0.95})
	api.SetImage(at(10, 0), "kubectl-set", "registry.example/api:2")
	api.RolloutUndo(at(12, 0), "kubectl", 1)
	api.SetImage(at(22, 0), "kubectl-set", "registry.example/api:4")
	cfg := config.Default()
	cfg.Rollback.Cooldown = 5 * time.Minute
	got := replayWith(t, advWrite(t, s), "api", cfg)
	want := verdict{Pages: 2, Incidents: 2, Rollbacks: 2, To: 3, Blame: "failing_revision", Blamed: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
