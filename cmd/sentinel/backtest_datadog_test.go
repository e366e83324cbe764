package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/source/datadog"
	"github.com/sentinel-sre/sentinel/test/fakedd"
	"github.com/sentinel-sre/sentinel/test/promenv"
)

// kinds is a text timeline's actions as "KIND workload", one per action.
func kinds(lines []string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 3 && strings.HasSuffix(f[0], "Z") {
			out = append(out, f[1]+" "+strings.TrimSuffix(f[2], ":"))
		}
	}
	return out
}

// TestBacktestDatadog runs `sentinel backtest --datadog` against the fake
// Datadog loaded with the MLI-6574 example: the same actions on the same
// workload as simulate (Datadog's buckets may move them by a bucket and
// the ingestion delay, so times are not compared here; the package test
// does).
func TestBacktestDatadog(t *testing.T) {
	dir := filepath.Join(promenv.RepoRoot(t), "examples", "mli-6574")
	cfg, _ := fakeDatadog(t, dir)
	out := sentinelOut(t, "backtest", "--datadog", "--config", cfg, "--from", "2026-04-24T23:20:00Z", "--to", "2026-04-25T01:00:00Z",
		"--objects", filepath.Join(dir, simulate.ObjectsFile))
	want := kinds(timeline(sentinelOut(t, "simulate", dir)))
	if diff := cmp.Diff([]string{"PAGE scale-deploy/model-engine", "ROLLBACK scale-deploy/model-engine",
		"RESOLVE scale-deploy/model-engine"}, want); diff != "" {
		t.Fatalf("simulate's actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, kinds(timeline(out))); diff != "" {
		t.Errorf("backtest --datadog actions (-simulate +backtest):\n%s\n%s", diff, out)
	}
	if !strings.Contains(out, "1 page, 1 rollback, 1 resolve") {
		t.Errorf("summary lacks the totals:\n%s", out)
	}
}

// fakeDatadog starts the fake Datadog loaded with a scenario's
// metrics.om and returns a configuration file asking it.
func fakeDatadog(t *testing.T, dir string) (cfg string, fake *fakedd.Server) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, simulate.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	points, err := fakedd.FromOpenMetrics(f, scenario.MetricName)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fake = fakedd.New(fakedd.Options{APIKey: "api", AppKey: "app", Metric: config.Default().Metrics.Datadog.Metric,
		Interval: 15 * time.Second})
	t.Cleanup(fake.Close)
	fake.Add(points...)
	t.Setenv(datadog.APIKeyEnv, "api")
	t.Setenv(datadog.AppKeyEnv, "app")
	cfg = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "metrics:\n  source: datadog\n  datadog:\n    url: %s\n", fake.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, fake
}
