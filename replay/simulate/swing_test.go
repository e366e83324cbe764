package simulate_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// swinging writes a 70-minute recording of shop/api (Helm-managed, 40
// req/s) whose 5xx ratio alternates between 90% and 20% with the given
// full period for 45 minutes — 55% of all requests failing — then stops.
func swinging(t *testing.T, period time.Duration) string {
	t.Helper()
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := scenariogen.New(scenariogen.Options{Start: start, End: start.Add(70 * time.Minute), Seed: 55, MinimalLabels: true})
	api := s.AddWorkload(scenariogen.WorkloadSpec{Namespace: "shop", Name: "api", Image: "registry.example/api:1",
		Replicas: 2, RequestRate: 40, Created: start.Add(-time.Hour), Manager: "helm"})
	from := start.Add(10 * time.Minute)
	for at := from; at.Before(from.Add(45 * time.Minute)); at = at.Add(period) {
		api.Fail(scenariogen.Failure{From: at, To: at.Add(period / 2), Code: "500", Ratio: 0.9})
		api.Fail(scenariogen.Failure{From: at.Add(period / 2), To: at.Add(period), Code: "500", Ratio: 0.2})
	}
	dir := t.TempDir()
	if _, err := s.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// outcome is what a swinging failure gets from sentinel.
type outcome struct {
	Incidents int // distinct incident ids (PagerDuty dedup keys)
	Triggers  int // pages sent, first and reopened
	Resolves  int
}

// TestSwingingFailures is the table of docs/detection.md: a failure that
// swings across the line pages, and keeps one incident and one dedup key.
func TestSwingingFailures(t *testing.T) {
	cases := []struct {
		period time.Duration
		want   outcome
	}{
		{30 * time.Second, outcome{Incidents: 1, Triggers: 1, Resolves: 1}},
		{time.Minute, outcome{Incidents: 1, Triggers: 1, Resolves: 1}},
		{2 * time.Minute, outcome{Incidents: 1, Triggers: 1, Resolves: 1}},
		{4 * time.Minute, outcome{Incidents: 1, Triggers: 1, Resolves: 1}},
		{8 * time.Minute, outcome{Incidents: 1, Triggers: 6, Resolves: 6}},
	}
	for _, tc := range cases {
		t.Run(tc.period.String(), func(t *testing.T) {
			t.Parallel()
			var out notify.Collect
			if _, err := simulate.Run(t.Context(), swinging(t, tc.period), config.Default(), &out); err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			var got outcome
			for _, a := range out.Actions {
				switch a.Kind {
				case incident.Page:
					got.Triggers++
					ids[a.Incident] = true
				case incident.Resolve:
					got.Resolves++
				}
				t.Logf("%s %s %s", a.At.Format("15:04:05"), a.Kind, a.Summary())
			}
			got.Incidents = len(ids)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("period %s (-want +got):\n%s", tc.period, diff)
			}
		})
	}
}
