package simulate_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// TestAdversaryNearTheVolumeFloor: a quiet workload whose traffic sits
// around detection.min_request_rate (0.5 req/s) fails 90% after a bad
// `kubectl set image` for 35 minutes. Polls that dip under the floor are
// unknown; sentinel must still page once, not drop the breach at every
// dip, and not page again and again.
func TestAdversaryNearTheVolumeFloor(t *testing.T) {
	cases := []struct {
		rate float64
		want verdict
	}{
		{0.7, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{0.55, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
	}
	for _, tc := range cases {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			s := scenariogen.New(scenariogen.Options{Start: advStart, End: advStart.Add(50 * time.Minute), Seed: 11,
				MinimalLabels: true})
			q := s.AddWorkload(scenariogen.WorkloadSpec{Namespace: "shop", Name: "quiet", Image: "registry.example/q:1",
				Replicas: 2, RequestRate: tc.rate, Created: advStart.Add(-2 * time.Hour), Manager: "helm"})
			q.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.9})
			q.SetImage(at(15, 0), "kubectl-set", "registry.example/q:2")
			dir := advWrite(t, s)
			withAvailableReplicas(t, dir) // else every dip under the floor reads as stopped
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "quiet")); diff != "" {
				t.Errorf("%g req/s (-want +got):\n%s", tc.rate, diff)
			}
		})
	}
}

// TestAdversaryGapMidIncident: a bad image fails 90%; the scrape of its
// pods is lost for five minutes mid-incident (longer than resolve_after)
// and comes back still failing. A gap is no recovery: one incident, one
// page, one rollback, no resolve before the failure ends.
func TestAdversaryGapMidIncident(t *testing.T) {
	s, api := advScenario(0)
	api.Fail(scenariogen.Failure{Revisions: []int64{2}, To: at(35, 0), Code: "500", Ratio: 0.9})
	api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
	dir := advWrite(t, s)
	withAvailableReplicas(t, dir)
	rewriteMetrics(t, dir, func(series string, ts time.Time) (string, bool) {
		return series, !(!ts.Before(at(20, 0)) && ts.Before(at(25, 0)) && seriesOf("api")(series))
	})
	want := verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}
	if diff := cmp.Diff(want, advReplay(t, dir, "api")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
