package prometheus

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/test/promenv"
	"github.com/sentinel-sre/sentinel/test/replaytest"
	"github.com/sentinel-sre/sentinel/workload"
)

// TestIntegrationReplayOverPrometheus backfills each bundled scenario into
// the real Prometheus and replays it twice through the same engine: once
// on the recording (sentinel simulate), once with this source querying
// Prometheus at each poll's time. The live path must take the same
// actions, at the same times, for the same causes and targets, with the
// same ratios.
func TestIntegrationReplayOverPrometheus(t *testing.T) {
	env := promenv.Need(t)
	if bi, err := env.API.Buildinfo(t.Context()); err == nil {
		t.Logf("Prometheus %s", bi.Version)
	}
	for _, name := range []string{"mli-6574", "kubectl-set-image", "rolling-update", "grpc", "linkerd"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "examples", name)
			if _, err := os.Stat(filepath.Join(dir, simulate.MetricsFile)); err != nil {
				t.Fatalf("the scenario bundled in examples/: %v", err)
			}
			cfg, err := simulate.LoadConfig(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			opts, err := scenario.OptionsFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := scenario.ReadMetricsFile(filepath.Join(dir, simulate.MetricsFile), opts)
			if err != nil {
				t.Fatal(err)
			}
			// The series the replay reads: istio_requests_total{reporter="destination"}
			// for Istio's sidecars.
			selector := RawSelector(cfg.Metrics.Prometheus, Selection{})
			env.Backfill(t, filepath.Join(dir, simulate.MetricsFile), selector, rec.First, rec.Last, rec.Samples)

			live := cfg
			live.Metrics.Source = "prometheus"
			live.Metrics.Prometheus.URL = env.URL
			src, err := New(live, promclient.NewRegistry(), WithLogger(zaptest.NewLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			want, got, res := replaytest.Replay(t.Context(), t, dir, cfg, src)
			t.Logf("%d polls over Prometheus, %d without data; query: %s", res.Polls, res.Unanswered, src.Query(RangesAuto))

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
func comparePolls(t *testing.T, rec *scenario.Metrics, src *Source, step time.Duration) {
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
		byWorkload := map[workload.Ref]detector.Observation{}
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
