package simulate_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// TestAdversaryMetricsGaps: shop/api gets a healthy `kubectl set image`
// at 10:15 and then its series vanish from the recording for four minutes
// while shop/web keeps answering. Whether that is "stopped serving" must
// come from the Deployment's status, never from the gap alone.
func TestAdversaryMetricsGaps(t *testing.T) {
	cases := []struct {
		name      string
		available bool // the Deployment's status reports every replica available
		whole     bool // the gap is the whole source's, not api's alone
		want      verdict
	}{
		{"api's gap, replicas available", true, false, verdict{}},
		{"the source's gap, replicas available", true, true, verdict{}},
		{"the source's gap, no replica available", false, true, verdict{}},
		// No replica available, and a gap after an image change: an image
		// that stopped serving.
		{"api's gap, no replica available", false, false,
			verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "before_errors", Blamed: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			dir := advWrite(t, s)
			rewriteMetrics(t, dir, func(series string, ts time.Time) (string, bool) {
				gap := !ts.Before(at(16, 0)) && ts.Before(at(20, 0))
				return series, !(gap && (tc.whole || seriesOf("api")(series)))
			})
			if !tc.available {
				withNoReplicaAvailable(t, dir)
			}
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdversaryReopenAfterRollback: a bad `kubectl set image` whose pods
// fail in bursts. Reopened or not, sentinel rolls back once: the
// per-incident limit holds a reopened incident, the cooldown a new one.
func TestAdversaryReopenAfterRollback(t *testing.T) {
	type burst struct{ from, to time.Time }
	cases := []struct {
		name   string
		bursts []burst
		want   verdict
	}{
		{"8-minute swing, reopened", nil, verdict{Pages: 4, Incidents: 1, Rollbacks: 1, To: 1,
			Blame: "failing_revision", Blamed: 2}},
		{"second burst just inside reopen_within", []burst{{at(10, 20), at(13, 0)}, {at(30, 30), at(34, 0)}},
			verdict{Pages: 2, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{"second burst just outside reopen_within", []burst{{at(10, 20), at(13, 0)}, {at(32, 30), at(36, 0)}},
			verdict{Pages: 2, Incidents: 2, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			api.SetImage(at(10, 0), "kubectl-set", "registry.example/api:2")
			bursts := tc.bursts
			if bursts == nil {
				for from := at(10, 20); from.Before(at(40, 0)); from = from.Add(8 * time.Minute) {
					bursts = append(bursts, burst{from, from.Add(4 * time.Minute)})
				}
			}
			for _, b := range bursts {
				api.Fail(scenariogen.Failure{Revisions: []int64{2}, From: b.from, To: b.to, Code: "500", Ratio: 0.9})
			}
			if diff := cmp.Diff(tc.want, advReplay(t, advWrite(t, s), "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdversaryHealth: a revision that failed on its own is no rollback
// target until it has served healthily again for
// rollback.healthy.min_duration.
func TestAdversaryHealth(t *testing.T) {
	cases := []struct {
		name     string
		noLabels bool
		setup    func(api *scenariogen.Workload)
		want     verdict
	}{
		{"rev 1 fails, hotfix fails too: never back to rev 1", false, func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{From: at(10, 0), Code: "500", Ratio: 0.9})
			api.SetImage(at(12, 0), "kubectl-set", "registry.example/api:2")
		}, verdict{Pages: 1, Incidents: 1, Blame: "older_revision_failing"}},
		{"rev 1 fails, recovers 3 min, bad image: no target", false, func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(10, 0), To: at(14, 0), Code: "500", Ratio: 0.9})
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.9})
			api.SetImage(at(17, 0), "kubectl-set", "registry.example/api:2")
		}, verdict{Pages: 2, Incidents: 1, Blame: "older_revision_failing"}},
		{"no labels/rev 1 fails, recovers 3 min, bad image: no target", true, func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(10, 0), To: at(14, 0), Code: "500", Ratio: 0.9})
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.9})
			api.SetImage(at(17, 0), "kubectl-set", "registry.example/api:2")
		}, verdict{Pages: 2, Incidents: 1, Blame: "no_change_before_errors"}},
		{"rev 1 fails, hotfix rev 2 serves 15 min, bad rev 3: back to rev 2", false, func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(5, 0), Code: "500", Ratio: 0.9})
			api.Fail(scenariogen.Failure{Revisions: []int64{3}, Code: "500", Ratio: 0.9})
			api.SetImage(at(10, 0), "kubectl-set", "registry.example/api:2")
			api.SetImage(at(30, 0), "kubectl-set", "registry.example/api:3")
		}, verdict{Pages: 2, Incidents: 2, Rollbacks: 1, To: 2, Blame: "older_revision_failing"}},
		{"no labels/rev 1 fails, hotfix rev 2 serves 15 min, bad rev 3: back to rev 2", true, func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{Revisions: []int64{1}, From: at(5, 0), Code: "500", Ratio: 0.9})
			api.Fail(scenariogen.Failure{Revisions: []int64{3}, Code: "500", Ratio: 0.9})
			api.SetImage(at(10, 0), "kubectl-set", "registry.example/api:2")
			api.SetImage(at(30, 0), "kubectl-set", "registry.example/api:3")
		}, verdict{Pages: 2, Incidents: 2, Rollbacks: 1, To: 2, Blame: "no_change_before_errors"}},
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
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdversaryUnattributedWorkload: Istio writes destination_workload
// "unknown" for requests it cannot attribute to a workload, in a namespace
// it knows or "unknown" too. Such series are skipped (no_workload), as
// docs/metrics.md says: they never page as a workload called unknown, even
// failing 90% beside a Deployment that does exist. A Deployment that is
// itself named "unknown" cannot be told apart from them, and is not judged.
func TestAdversaryUnattributedWorkload(t *testing.T) {
	for _, namespace := range []string{"shop", "unknown"} {
		t.Run(namespace, func(t *testing.T) {
			t.Parallel()
			s := scenariogen.New(scenariogen.Options{Start: advStart, End: advStart.Add(30 * time.Minute), Seed: 7,
				MinimalLabels: true})
			u := s.AddWorkload(scenariogen.WorkloadSpec{Namespace: namespace, Name: "unknown", Image: "registry.example/u:1",
				Replicas: 2, RequestRate: 20, Created: advStart.Add(-2 * time.Hour), Manager: "helm"})
			u.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.9})
			u.SetImage(at(15, 0), "kubectl-set", "registry.example/u:2")
			s.AddWorkload(scenariogen.WorkloadSpec{Namespace: "shop", Name: "web", Image: "registry.example/web:1",
				Replicas: 2, RequestRate: 20, Created: advStart.Add(-2 * time.Hour), Manager: "helm"})
			var out notify.Collect
			res, err := simulate.Run(t.Context(), advWrite(t, s), config.Default(), &out)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range out.Actions {
				t.Errorf("%s %s %s: want no action about unattributed requests", a.At.Format("15:04:05"), a.Kind, a.Summary())
			}
			if res.Skipped[scenario.SkipNoWorkload] == 0 {
				t.Errorf("skipped %v, want the unattributed samples counted as %s", res.Skipped, scenario.SkipNoWorkload)
			}
		})
	}
}
