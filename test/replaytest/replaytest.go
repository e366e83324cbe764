// Package replaytest holds helpers for tests that compare a live source's
// replay with the recording's: the two replays, how an action's cause and
// rollback target are written so two runs can be compared, and the
// comparison of two action lists. It also asserts what every source
// shares (package source): how a failed poll's error reads, and the
// query metrics read from a test's registry. Test code only.
package replaytest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/source"
)

// Replay runs the scenario in dir twice through the same engine with
// cfg: on its recording (sentinel simulate), which gives want, and with
// src answering every poll, which gives got.
func Replay(ctx context.Context, t TB, dir string, cfg config.Config, src engine.Source) (want, got []incident.Action, res simulate.Result) {
	t.Helper()
	var rec, live notify.Collect
	if _, err := simulate.Run(ctx, dir, cfg, &rec); err != nil {
		t.Fatalf("replay %s on its recording: %v", dir, err)
	}
	res, err := simulate.RunWith(ctx, dir, cfg, &live, src)
	if err != nil {
		t.Fatalf("replay %s over the live source: %v", dir, err)
	}
	return rec.Actions, live.Actions, res
}

// Cause is an action's linked change as compared between runs: its
// revision and field manager, or "none".
func Cause(a incident.Action) string {
	if a.Cause == nil {
		return "none"
	}
	return fmt.Sprintf("revision %d by %s", a.Cause.Revision, a.Cause.Manager)
}

// Target is the rollback target of an action (the plan carried out, or
// the one decided with a page): revision and images, or "none".
func Target(a incident.Action) string {
	p := a.Plan
	if p == nil {
		p = a.Decision.Plan
	}
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("revision %d (%s)", p.ToRevision, incident.ShortImages(p.ToImages))
}

// Describe is one line for a test log: time, kind, workload, ratio,
// request rate, cause and target.
func Describe(a incident.Action) string {
	return fmt.Sprintf("%s %s %s ratio %.9f requests %.6f/s cause %s target %s", a.At.Format(time.RFC3339),
		a.Kind, a.Workload, a.Ratio, a.Requests, Cause(a), Target(a))
}

// Match says how closely the actions over a live source must follow the
// replay's.
type Match struct {
	// Source names the live source in messages ("Prometheus").
	Source string
	// Late is how long after the replay's action the live one may come
	// (a backend's buckets and ingestion delay); zero means at the same
	// instant.
	Late time.Duration
	// Early is how long before the replay's action the live one may come.
	Early time.Duration
	// Exact also requires the same incident and onset, and ratios and
	// request rates within Tolerance (1e-6 when zero): a source that
	// answers for the very instants the recording does.
	Exact     bool
	Tolerance float64
}

// Compare asserts that got, the actions of a replay over a live source,
// are want, the recording's: the same kinds on the same workloads, in the
// same order, for the same causes and rollback targets, within m. The
// replay must page and roll back at least once, or there is nothing to
// compare. Both lists are logged.
func Compare(t TB, want, got []incident.Action, m Match) {
	t.Helper()
	var pages, rollbacks int
	for _, a := range want {
		switch a.Kind {
		case incident.Page:
			pages++
		case incident.Rollback:
			rollbacks++
		}
	}
	if pages == 0 || rollbacks == 0 {
		t.Fatalf("the replay paged %d times and rolled back %d times: nothing to compare", pages, rollbacks)
	}
	for _, a := range got {
		t.Logf("%s: %s", m.Source, Describe(a))
	}
	for _, a := range want {
		t.Logf("replay: %s", Describe(a))
	}
	if len(got) != len(want) {
		t.Errorf("%d actions over %s, %d in the replay", len(got), m.Source, len(want))
	}
	for i := range min(len(got), len(want)) {
		w, g := want[i], got[i]
		if g.Kind != w.Kind || g.Workload != w.Workload {
			t.Errorf("action %d: %s %s, replay %s %s", i, g.Kind, g.Workload, w.Kind, w.Workload)
		}
		if g.At.Before(w.At.Add(-m.Early)) || g.At.After(w.At.Add(m.Late)) {
			t.Errorf("action %d (%s) at %s, replay at %s: want from %s before to %s after", i, g.Kind, g.At, w.At, m.Early, m.Late)
		}
		if c, wc := Cause(g), Cause(w); c != wc {
			t.Errorf("action %d: cause %s, replay %s", i, c, wc)
		}
		if tg, wt := Target(g), Target(w); tg != wt {
			t.Errorf("action %d: rollback target %s, replay %s", i, tg, wt)
		}
		if g.Kind == incident.Page && !slices.Equal(g.Details().FailingAs, w.Details().FailingAs) {
			t.Errorf("action %d: failing as %q, replay %q", i, g.Details().FailingAs, w.Details().FailingAs)
		}
		if !m.Exact || !g.At.Equal(w.At) {
			continue // values of different instants do not compare
		}
		if g.Incident != w.Incident || !g.Onset.Equal(w.Onset) {
			t.Errorf("action %d: incident %s since %s, replay %s since %s", i, g.Incident, g.Onset, w.Incident, w.Onset)
		}
		tol := m.Tolerance
		if tol == 0 {
			tol = 1e-6
		}
		if math.Abs(g.Ratio-w.Ratio) > tol {
			t.Errorf("action %d: ratio %.9f, replay %.9f", i, g.Ratio, w.Ratio)
		}
		if math.Abs(g.Requests-w.Requests) > tol*math.Max(1, w.Requests) {
			t.Errorf("action %d: requests %.9f/s, replay %.9f/s", i, g.Requests, w.Requests)
		}
	}
}

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Failed asserts that a poll of the source named name failed as every
// source's must: with an error (got, the answer, is shown otherwise) that
// says what was being done ("query NAME") and wraps source.ErrNoData
// exactly when noData, the backend having had no values.
func Failed(t TB, got any, err error, name string, noData bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("got %+v, want an error", got)
	}
	if !strings.HasPrefix(err.Error(), "query "+name) {
		t.Errorf("error %q does not say what was being done", err)
	}
	if errors.Is(err, source.ErrNoData) != noData {
		t.Errorf("errors.Is(%v, ErrNoData) = %v, want %v", err, !noData, noData)
	}
}

// Value is the value of the first series of the metric name in g whose
// labels include labels: a counter's value or a histogram's sample
// count. A missing series fails the test.
func Value(t TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.Histogram != nil {
				return float64(m.Histogram.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// Counts are the non-zero values of the series of the metric name for
// source, by reason, for each of reasons (a closed set); a missing series
// fails the test. Compare them with maps.Equal to assert both what was
// counted and that nothing else was.
func Counts(t TB, g prometheus.Gatherer, name, source string, reasons []string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, r := range reasons {
		if v := Value(t, g, name, map[string]string{"source": source, "reason": r}); v != 0 {
			out[r] = v
		}
	}
	return out
}

// PreCreated asserts that g holds exactly the query metrics of one source
// with these closed sets of reasons, every series there before any query:
// one sentinel_query_errors_total per error reason, one
// sentinel_samples_skipped_total per skip reason, one
// sentinel_query_duration_seconds.
func PreCreated(t TB, g prometheus.Gatherer, errorReasons, skipReasons []string) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
	}
	want := map[string]int{"sentinel_query_errors_total": len(errorReasons),
		"sentinel_samples_skipped_total": len(skipReasons), "sentinel_query_duration_seconds": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
}
