package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/backtest"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/source/prometheus"
	"github.com/sentinel-sre/sentinel/test/promenv"
	"github.com/sentinel-sre/sentinel/test/replaytest"
)

// sentinel runs the CLI with args and returns its standard output.
func sentinelOut(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("sentinel %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// wording is a timeline without its numbers (times, ratios, rates): the
// same actions said the same way, for a server whose arithmetic differs
// at pod starts.
func wording(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = digits.ReplaceAllString(l, "#")
	}
	return out
}

var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// timeline is the text output's actions: the lines before the summary.
func timeline(out string) []string {
	before, _, _ := strings.Cut(out, "\n\n")
	return strings.Split(before, "\n")
}

// TestIntegrationBacktestEqualsSimulate backfills every bundled example
// into the real Prometheus and checks that a backtest over the
// recording's range takes the same actions at the same times as
// simulate: the package with small chunks (several query_range requests,
// boundaries inside the incident), the CLI with its defaults; and that
// `record` of the same range, replayed by `simulate`, gives them again.
func TestIntegrationBacktestEqualsSimulate(t *testing.T) {
	env := promenv.Need(t)
	root := promenv.RepoRoot(t)
	for _, name := range []string{"mli-6574", "kubectl-set-image", "rolling-update", "grpc", "linkerd"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, "examples", name)
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
			// The series the replay reads, as `sentinel record` selects them.
			selector := prometheus.RawSelector(cfg.Metrics.Prometheus, prometheus.Selection{})
			env.Backfill(t, filepath.Join(dir, simulate.MetricsFile), selector, rec.First, rec.Last, rec.Samples)
			var want notify.Collect
			if _, err := simulate.Run(t.Context(), dir, cfg, &want); err != nil {
				t.Fatal(err)
			}

			live := cfg
			live.Metrics.Prometheus.URL = env.URL
			src, err := prometheus.New(live, nil)
			if err != nil {
				t.Fatal(err)
			}
			step := cfg.Detection.PollInterval
			start := engine.PollAt(rec.First, step)
			rng, err := src.NewRange(t.Context(), start, rec.Last, step, 37)
			if err != nil {
				t.Fatal(err)
			}
			objects, err := scenario.ReadObjectsFile(filepath.Join(dir, simulate.ObjectsFile))
			if err != nil {
				t.Fatal(err)
			}
			var got notify.Collect
			res, err := backtest.Run(t.Context(), backtest.Options{Config: cfg, Source: rng, Start: start, End: rec.Last,
				Objects: objects, Notifier: &got})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d polls in %d query_range requests, %d without data; query: %s", res.Polls,
				(res.Polls+36)/37, res.NoData, rng.Query())
			m := replaytest.Match{Source: "backtest", Exact: true}
			closed := src.Ranges() == prometheus.RangesClosed
			if closed {
				// Prometheus 2.x extrapolates a series that starts inside
				// the window differently (docs/metrics.md): at pod starts a
				// ratio moves by up to a few percent, and an action near
				// the line by up to a poll.
				m.Early, m.Late, m.Tolerance = step, step, 0.02
			}
			replaytest.Compare(t, want.Actions, got.Actions, m)

			from, to := rec.First.Format(time.RFC3339), rec.Last.Format(time.RFC3339)
			objFile := filepath.Join(dir, simulate.ObjectsFile)
			// The example's own configuration (its mesh), as simulate reads it.
			var withConfig []string
			if c := filepath.Join(dir, simulate.ConfigFile); fileExists(c) {
				withConfig = []string{"--config", c}
			}
			simulated := timeline(sentinelOut(t, "simulate", dir))
			backtested := timeline(sentinelOut(t, append([]string{"backtest", "--prometheus", env.URL, "--from", from, "--to", to,
				"--objects", objFile}, withConfig...)...))
			if closed {
				simulated, backtested = wording(simulated), wording(backtested)
			}
			if diff := cmp.Diff(simulated, backtested); diff != "" {
				t.Errorf("sentinel backtest's actions differ from sentinel simulate's (-simulate +backtest):\n%s", diff)
			}

			recorded := filepath.Join(t.TempDir(), name)
			t.Log(sentinelOut(t, append(append([]string{"record", "--prometheus", env.URL, "--from", from, "--to", to,
				"--objects", objFile}, withConfig...), recorded)...))
			replayed := timeline(sentinelOut(t, "simulate", recorded))
			if closed {
				replayed = wording(replayed)
			}
			if diff := cmp.Diff(simulated, replayed); diff != "" {
				t.Errorf("simulate of the recording made by sentinel record differs (-example +recorded):\n%s", diff)
			}
		})
	}
}
