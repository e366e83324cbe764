package datadog

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/test/fakedd"
	"github.com/sentinel-sre/sentinel/test/replaytest"
)

// TestReplayOverDatadog loads each bundled scenario into the fake Datadog
// as the Agent would have submitted it, and replays it through the same
// engine with this source. Datadog's buckets and ingestion delay move the
// times a little, so the test asserts the same actions on the same
// workloads, for the same causes and rollback targets, no earlier than the
// replay and no later than the ingestion delay plus a bucket after it.
func TestReplayOverDatadog(t *testing.T) {
	// examples/linkerd is not here: Datadog's Linkerd check names its
	// metrics its own way (config refuses metrics.mesh linkerd with it).
	for _, name := range []string{"mli-6574", "kubectl-set-image", "rolling-update", "grpc"} {
		t.Run(name, func(t *testing.T) {
			dir, cfg, live, _ := bundledOverFake(t, name)
			const interval = 15 * time.Second
			src, err := New(live, promclient.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			want, got, res := replaytest.Replay(t.Context(), t, dir, cfg, src)
			t.Logf("%d polls, %d without data", res.Polls, res.Unanswered)
			replaytest.Compare(t, want, got, replaytest.Match{Source: "Datadog", Late: DefaultIngestionDelay + interval})
		})
	}
}

// bundledOverFake loads the bundled example name into a fake Datadog as the
// Agent would have submitted it (15 s buckets, 20 s ingestion delay), and
// returns the example's directory and its configuration pointed at the fake.
// The second configuration is the first pointed at the fake.
func bundledOverFake(t *testing.T, name string) (dir string, cfg, live config.Config, fake *fakedd.Server) {
	t.Helper()
	dir = filepath.Join("..", "..", "examples", name)
	f, err := os.Open(filepath.Join(dir, simulate.MetricsFile))
	if err != nil {
		t.Fatalf("open the scenario bundled in examples/: %v", err)
	}
	points, err := fakedd.FromOpenMetrics(f, scenario.MetricName)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fake = newFake(t, fakedd.Options{Interval: 15 * time.Second, Lag: 20 * time.Second})
	fake.Add(points...)
	if cfg, err = simulate.LoadConfig(dir, ""); err != nil {
		t.Fatal(err)
	}
	live = cfg
	live.Metrics.Source = "datadog"
	live.Metrics.Datadog.URL = fake.URL
	t.Setenv(APIKeyEnv, apiKey)
	t.Setenv(AppKeyEnv, appKey)
	return dir, cfg, live, fake
}
