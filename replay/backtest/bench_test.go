package backtest_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/backtest"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/source/prometheus"
	"github.com/sentinel-sre/sentinel/test/promenv"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// recordingDir writes s once under os.TempDir(), as simulate's benchmark
// does, and reuses it.
func recordingDir(b *testing.B, s *scenariogen.Scenario) string {
	b.Helper()
	dir, _, err := s.WriteCached(os.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBacktest24h1000Workloads backfills simulate's benchmark day
// into the test Prometheus (promtool, not timed; about 90 s the first
// time) and measures, side by side, Prometheus alone answering the
// backtest's query_range requests one after another (bare-s) and the
// whole backtest (query_range, decoding, every decision). Not in CI; run:
//
//	scripts/testenv.sh exec -- go test ./replay/backtest -run '^$' -bench Backtest24h -benchtime 1x -timeout 30m
func BenchmarkBacktest24h1000Workloads(b *testing.B) {
	env := promenv.Need(b)
	ctx := b.Context()
	dir := recordingDir(b, scenariogen.Fleet())
	cfg := config.Default()
	cfg.Metrics.Prometheus.URL = env.URL
	codes, err := config.CompileCodes(cfg.Detection.FailureCodes)
	if err != nil {
		b.Fatal(err)
	}
	rec, err := scenario.ReadMetricsFile(filepath.Join(dir, simulate.MetricsFile), scenario.Options{Names: scenario.DefaultNames(), FailureCodes: codes, Window: cfg.Detection.RateWindow})
	if err != nil {
		b.Fatal(err)
	}
	env.Backfill(b, filepath.Join(dir, simulate.MetricsFile), `istio_requests_total{reporter="destination"}`, rec.First, rec.Last, rec.Samples)
	objects, err := scenario.ReadObjectsFile(filepath.Join(dir, simulate.ObjectsFile))
	if err != nil {
		b.Fatal(err)
	}
	src, err := prometheus.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	step := cfg.Detection.PollInterval
	start := engine.PollAt(rec.First, step)

	var bare, run time.Duration
	var (
		res     backtest.Result
		actions []incident.Action
	)
	cpu0 := cpuTime()
	for b.Loop() {
		rng, err := src.NewRange(ctx, start, rec.Last, step, 0)
		if err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		chunk := time.Duration(prometheus.DefaultChunkSteps) * step
		for lo := start; !lo.After(rng.End()); lo = lo.Add(chunk) {
			hi := lo.Add(chunk - step)
			if hi.After(rng.End()) {
				hi = rng.End()
			}
			if _, _, err := env.API.QueryRange(ctx, rng.Query(), v1.Range{Start: lo, End: hi, Step: step}); err != nil {
				b.Fatal(err)
			}
		}
		bare += time.Since(began)
		b.Logf("bare query_range of the day: %s", time.Since(began).Round(time.Millisecond))
		began = time.Now()
		var c notify.Collect
		if res, err = backtest.Run(ctx, backtest.Options{Config: cfg, Source: rng, Start: start, End: rec.Last,
			Objects: objects, Notifier: &c}); err != nil {
			b.Fatal(err)
		}
		actions = c.Actions
		run += time.Since(began)
		b.Logf("backtest of the day: %s", time.Since(began).Round(time.Millisecond))
	}
	n := float64(b.N)
	b.ReportMetric(bare.Seconds()/n, "bare-query_range-s/op")
	b.ReportMetric(run.Seconds()/n, "backtest-s/op")
	b.ReportMetric(run.Seconds()/bare.Seconds(), "replay/backtest/bare")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/n, "sentinel-cpu-s/op")
	b.ReportMetric(float64(res.Polls), "polls")
	if n := simulate.Tally(actions); n[incident.Page] != 5 || n[incident.Rollback] != 5 {
		b.Fatalf("%d pages, %d rollbacks; want 5 of each", n[incident.Page], n[incident.Rollback])
	}
}
