package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"go.uber.org/zap/zaptest"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/internal/replaytest"
	"github.com/sentinel-sre/sentinel/recording"
	"github.com/sentinel-sre/sentinel/simulate"
	"github.com/sentinel-sre/sentinel/source"
)

// testEnv is the real Prometheus scripts/testenv.sh started.
type testEnv struct {
	url, data, dir, promtool string
	api                      v1.API
}

// needPrometheus returns the test environment's Prometheus, or skips when
// run by hand without one. Under scripts/test.sh (SENTINEL_E2E=required)
// a missing Prometheus fails.
func needPrometheus(t testing.TB) testEnv {
	t.Helper()
	env := testEnv{url: os.Getenv("SENTINEL_TEST_PROMETHEUS_URL"), data: os.Getenv("SENTINEL_TEST_PROMETHEUS_DATA"),
		dir: os.Getenv("SENTINEL_TEST_ENV_DIR"), promtool: os.Getenv("PROMTOOL")}
	if env.url == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal("SENTINEL_TEST_PROMETHEUS_URL is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test Prometheus: scripts/testenv.sh up DIR; source DIR/env; go test ./source/prometheus -run Integration")
	}
	if env.data == "" || env.dir == "" {
		t.Fatal("SENTINEL_TEST_PROMETHEUS_DATA and SENTINEL_TEST_ENV_DIR must be set with SENTINEL_TEST_PROMETHEUS_URL (source DIR/env)")
	}
	if env.promtool == "" {
		env.promtool = "promtool"
	}
	c, err := api.NewClient(api.Config{Address: env.url})
	if err != nil {
		t.Fatal(err)
	}
	env.api = v1.NewAPI(c)
	return env
}

// samplesLoaded counts the destination-reporter samples Prometheus holds
// between the recording's first and last sample.
func (e testEnv) samplesLoaded(ctx context.Context, rec *recording.Metrics) (int, error) {
	span := rec.Last.Sub(rec.First) + time.Millisecond
	q := fmt.Sprintf(`sum(count_over_time(%s{%s=%q}[%s]))`, recording.MetricName, recording.LabelReporter,
		recording.Reporter, model.Duration(span))
	v, _, err := e.api.Query(ctx, q, rec.Last)
	if err != nil {
		return 0, err
	}
	if vec, ok := v.(model.Vector); ok && len(vec) == 1 {
		return int(vec[0].Value), nil
	}
	return 0, nil
}

// backfill loads the scenario's metrics.om into Prometheus with promtool
// and restarts Prometheus (blocks written behind its back are loaded at
// start-up, else only at its next block reload), unless an earlier run
// already did.
func (e testEnv) backfill(t testing.TB, dir string, rec *recording.Metrics) {
	t.Helper()
	ctx := t.Context()
	if n, err := e.samplesLoaded(ctx, rec); err == nil && n >= rec.Samples {
		t.Logf("%s already loaded (%d samples)", dir, n)
		return
	}
	out, err := exec.Command(e.promtool, "tsdb", "create-blocks-from", "openmetrics",
		filepath.Join(dir, simulate.MetricsFile), e.data).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
	out, err = exec.Command(filepath.Join("..", "..", "scripts", "testenv.sh"), "restart-prometheus", e.dir).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv.sh restart-prometheus: %v\n%s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := e.samplesLoaded(ctx, rec)
		if err == nil && n >= rec.Samples {
			t.Logf("backfilled %s: %d samples queryable", dir, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backfilled samples not queryable after 60s: have %d of %d (%v)", n, rec.Samples, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIntegrationReplayOverPrometheus backfills each bundled scenario into
// the real Prometheus and replays it twice through the same engine: once
// on the recording (sentinel simulate), once with this source querying
// Prometheus at each poll's time. The live path must take the same
// actions, at the same times, for the same causes and targets, with the
// same ratios.
func TestIntegrationReplayOverPrometheus(t *testing.T) {
	env := needPrometheus(t)
	if bi, err := env.api.Buildinfo(t.Context()); err == nil {
		t.Logf("Prometheus %s", bi.Version)
	}
	for _, name := range []string{"mli-6574", "kubectl-set-image", "rolling-update"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "examples", name)
			if _, err := os.Stat(filepath.Join(dir, simulate.MetricsFile)); err != nil {
				t.Fatalf("the scenario bundled in examples/: %v", err)
			}
			cfg, err := simulate.LoadConfig(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			opts, err := recording.OptionsFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := recording.ReadMetricsFile(filepath.Join(dir, simulate.MetricsFile), opts)
			if err != nil {
				t.Fatal(err)
			}
			env.backfill(t, dir, rec)

			live := cfg
			live.Metrics.Source = "prometheus"
			live.Metrics.Prometheus.URL = env.url
			src, err := New(live, promclient.NewRegistry(), WithLogger(zaptest.NewLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			want, got, res := replaytest.Replay(t.Context(), t, dir, cfg, src)
			t.Logf("%d polls over Prometheus, %d without data; query: %s", res.Polls, res.Stats.SourceErrors, src.Query(RangesAuto))

			m := replaytest.Match{Source: "Prometheus", Exact: true}
			if src.Ranges() == RangesClosed {
				// Prometheus 2.x extrapolates a series that starts inside
				// the window differently (docs/metrics.md): judged per
				// revision, pod starts move a ratio by up to a few
				// percent and an action near the line by up to a poll.
				m.Early, m.Late, m.Tolerance = cfg.Detection.PollInterval, cfg.Detection.PollInterval, 0.02
			}
			replaytest.Compare(t, want, got, m)
			comparePolls(t, rec, src, cfg.Detection.PollInterval)
		})
	}
}

// comparePolls compares every poll's observations. The same workloads must
// be known at every poll, and a poll Prometheus has no data for must be
// one the recording has none for either. Ratios are compared and the
// differences logged: on a left-open server (Prometheus 3.x) they agree
// to rounding; Prometheus 2.x extrapolates a series that starts inside the
// window differently (docs/metrics.md), which shows at pod starts only.
func comparePolls(t *testing.T, rec *recording.Metrics, src *Source, step time.Duration) {
	t.Helper()
	ctx := t.Context()
	start := engine.PollAt(rec.First, step)
	var compared, differing int
	var maxRatio float64
	for at := start; !at.After(rec.Last); at = at.Add(step) {
		want, _ := rec.Observe(ctx, at)
		got, err := src.Observe(ctx, at)
		if err != nil {
			if !errors.Is(err, source.ErrNoData) || len(want) > 0 {
				t.Errorf("%s: %v; the recording knows %d workloads", at.Format(time.RFC3339), err, len(want))
			}
			continue
		}
		byWorkload := map[detector.Workload]detector.Observation{}
		for _, o := range got {
			byWorkload[o.Workload] = o
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d workloads over Prometheus, %d in the recording", at.Format(time.RFC3339), len(got), len(want))
		}
		for _, w := range want {
			g, ok := byWorkload[w.Workload]
			if !ok {
				t.Errorf("%s: %s unknown over Prometheus", at.Format(time.RFC3339), w.Workload)
				continue
			}
			compared++
			d := math.Abs(g.Ratio() - w.Ratio())
			maxRatio = math.Max(maxRatio, d)
			if d > 1e-6 || math.Abs(g.Requests-w.Requests) > 1e-6*math.Max(1, w.Requests) {
				differing++
				t.Logf("%s %s: ratio %.9f (recording %.9f), requests %.6f/s (recording %.6f/s)",
					at.Format(time.RFC3339), w.Workload, g.Ratio(), w.Ratio(), g.Requests, w.Requests)
			}
		}
	}
	t.Logf("%d observations compared, %d differ by more than 1e-6, largest ratio difference %.3g (%s ranges)",
		compared, differing, maxRatio, src.Ranges())
}
