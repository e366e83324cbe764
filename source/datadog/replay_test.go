package datadog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/internal/fakedd"
	"github.com/sentinel-sre/sentinel/recording"
	"github.com/sentinel-sre/sentinel/simulate"
)

// TestReplayOverDatadog loads each bundled scenario into the fake Datadog
// as the Agent would have submitted it, and replays it through the same
// engine with this source. Datadog's buckets and ingestion delay move the
// times a little, so the test asserts the same actions on the same
// workloads, for the same causes and rollback targets, no earlier than the
// replay and no later than the ingestion delay plus a bucket after it.
func TestReplayOverDatadog(t *testing.T) {
	for _, name := range []string{"mli-6574", "kubectl-set-image"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "examples", name)
			f, err := os.Open(filepath.Join(dir, simulate.MetricsFile))
			if err != nil {
				t.Skipf("scenario not in the repository: %v", err)
			}
			points, err := fakedd.FromOpenMetrics(f, recording.MetricName)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			const interval = 15 * time.Second
			fake := newFake(t, fakedd.Options{Interval: interval, Lag: 20 * time.Second})
			fake.Add(points...)

			cfg, err := simulate.LoadConfig(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var want simulate.Collect
			if _, err := simulate.Run(ctx, dir, cfg, &want); err != nil {
				t.Fatal(err)
			}
			live := cfg
			live.Metrics.Source = "datadog"
			live.Metrics.Datadog.URL = fake.URL
			t.Setenv(APIKeyEnv, apiKey)
			t.Setenv(AppKeyEnv, appKey)
			src, err := New(live, promclient.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			var got simulate.Collect
			res, err := simulate.RunWith(ctx, dir, cfg, &got, src)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d polls, %d without data", res.Polls, res.Stats.SourceErrors)
			for _, a := range got.Actions {
				t.Logf("datadog: %s %s %s ratio %.4f requests %.2f/s cause %s target %s", a.At.Format(time.RFC3339), a.Kind, a.Workload, a.Ratio, a.Requests, cause(a), target(a))
			}
			for _, a := range want.Actions {
				t.Logf("replay:  %s %s %s ratio %.4f requests %.2f/s cause %s target %s", a.At.Format(time.RFC3339), a.Kind, a.Workload, a.Ratio, a.Requests, cause(a), target(a))
			}
			if len(got.Actions) != len(want.Actions) {
				t.Fatalf("%d actions over Datadog, %d in the replay", len(got.Actions), len(want.Actions))
			}
			late := DefaultIngestionDelay + interval
			for i, w := range want.Actions {
				g := got.Actions[i]
				if g.Kind != w.Kind || g.Workload != w.Workload || cause(g) != cause(w) || target(g) != target(w) {
					t.Errorf("action %d: %s %s cause %s target %s; replay %s %s cause %s target %s",
						i, g.Kind, g.Workload, cause(g), target(g), w.Kind, w.Workload, cause(w), target(w))
				}
				if g.At.Before(w.At) || g.At.After(w.At.Add(late)) {
					t.Errorf("action %d (%s) at %s, replay at %s: want within %s after", i, g.Kind, g.At, w.At, late)
				}
			}
		})
	}
}

func cause(a incident.Action) string {
	if a.Cause == nil {
		return "none"
	}
	return fmt.Sprintf("revision %d by %s", a.Cause.Revision, a.Cause.Manager)
}

func target(a incident.Action) string {
	p := a.Plan
	if p == nil {
		p = a.Decision.Plan
	}
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("revision %d (%s)", p.ToRevision, incident.ShortImages(p.ToImages))
}
