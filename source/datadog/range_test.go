package datadog

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	promclient "github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/backtest"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/test/replaytest"
)

// TestRangeBacktest backtests each bundled example over the fake
// Datadog's timeseries, an hour per request, and checks it takes exactly
// the actions a poll-by-poll replay over the same Datadog takes (the
// same code judges each poll from the same complete buckets), and those
// of the recording within Datadog's bucket and ingestion delay.
func TestRangeBacktest(t *testing.T) {
	for _, name := range []string{"mli-6574", "kubectl-set-image"} {
		t.Run(name, func(t *testing.T) {
			dir, cfg, live, fake := bundledOverFake(t, name)
			const interval = 15 * time.Second
			newSource := func() *Source {
				s, err := New(live, promclient.NewRegistry())
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			want, perPoll, _ := replaytest.Replay(t.Context(), t, dir, cfg, newSource())
			asked := len(fake.Requests())

			got, res := backtestOver(t, cfg, dir, newSource())
			if diff := cmp.Diff(lines(perPoll), lines(got)); diff != "" {
				t.Errorf("backtest over the range differs from the poll-by-poll replay (-per poll +range):\n%s", diff)
			}
			replaytest.Compare(t, want, got, replaytest.Match{Source: "Datadog range", Late: DefaultIngestionDelay + interval})
			requests := len(fake.Requests()) - asked
			if wantReq := (res.Polls*int(cfg.Detection.PollInterval) + int(DefaultRangeChunk) - 1) / int(DefaultRangeChunk); requests != wantReq {
				t.Errorf("%d requests for %d polls, want %d (one per %s)", requests, res.Polls, wantReq, DefaultRangeChunk)
			}
		})
	}
}

func backtestOver(t *testing.T, cfg config.Config, dir string, s *Source) ([]incident.Action, backtest.Result) {
	t.Helper()
	codes, err := config.CompileCodes(cfg.Detection.FailureCodes)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := scenario.ReadMetricsFile(filepath.Join(dir, simulate.MetricsFile), scenario.Options{Names: scenario.DefaultNames(), FailureCodes: codes, Window: cfg.Detection.RateWindow})
	if err != nil {
		t.Fatal(err)
	}
	objects, err := scenario.ReadObjectsFile(filepath.Join(dir, simulate.ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	step := cfg.Detection.PollInterval
	start := engine.PollAt(rec.First, step)
	rng, err := s.NewRange(start, rec.Last, step, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got notify.Collect
	res, err := backtest.Run(t.Context(), backtest.Options{Config: cfg, Source: rng, Start: start, End: rec.Last,
		Objects: objects, Notifier: &got})
	if err != nil {
		t.Fatal(err)
	}
	return got.Actions, res
}

// lines is the actions as compared between runs.
func lines(acts []incident.Action) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = replaytest.Describe(a)
	}
	return out
}
