package replaytest

import (
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// recorder is a TB that keeps what a helper reported; Fatalf ends the
// helper's goroutine as testing.T's does.
type recorder struct {
	errors []string
	fatal  string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Errorf(f string, a ...any) { r.errors = append(r.errors, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...); runtime.Goexit() }

func (r *recorder) failed() bool     { return len(r.errors) > 0 || r.fatal != "" }
func (r *recorder) failures() string { return strings.Join(append(r.errors, r.fatal), "\n") }

// run calls f with r in a goroutine of its own, for Fatalf to end.
func run(f func(TB)) *recorder {
	r := &recorder{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f(r) }()
	wg.Wait()
	return r
}

var (
	t0  = time.Date(2026, 4, 24, 23, 51, 30, 0, time.UTC)
	web = workload.Ref{Namespace: "shop", Name: "web"}
)

// replay is a page with its rollback decision, then the rollback.
func replay() []incident.Action {
	plan := &rollback.Plan{ToRevision: 1, ToImages: []history.Image{{Container: "app", Image: "registry.example/web:v1"}}}
	cause := &history.Change{Revision: 2, Manager: "kubectl-set"}
	return []incident.Action{
		{At: t0, Kind: incident.Page, Workload: web, Incident: "i1", Onset: t0, Ratio: 0.9, Requests: 40, Cause: cause,
			Decision: rollback.Decision{Plan: plan}},
		{At: t0, Kind: incident.Rollback, Workload: web, Incident: "i1", Onset: t0, Ratio: 0.9, Requests: 40, Cause: cause, Plan: plan},
	}
}

func TestCauseAndTarget(t *testing.T) {
	a := replay()
	if c, tg := Cause(a[0]), Target(a[0]); c != "revision 2 by kubectl-set" || tg != "revision 1 (web:v1)" {
		t.Errorf("page: cause %q, target %q", c, tg)
	}
	if tg := Target(a[1]); tg != "revision 1 (web:v1)" {
		t.Errorf("rollback: target %q", tg)
	}
	if c, tg := Cause(incident.Action{}), Target(incident.Action{}); c != "none" || tg != "none" {
		t.Errorf("nothing: cause %q, target %q", c, tg)
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name  string
		m     Match
		want  func([]incident.Action) []incident.Action
		live  func([]incident.Action) []incident.Action
		fails string // "" passes
	}{
		{name: "same", m: Match{Source: "X", Exact: true}},
		{name: "later within Late", m: Match{Source: "X", Late: 30 * time.Second},
			live: func(a []incident.Action) []incident.Action { a[1].At = t0.Add(30 * time.Second); return a }},
		{name: "later than Late", m: Match{Source: "X", Late: 30 * time.Second},
			live:  func(a []incident.Action) []incident.Action { a[1].At = t0.Add(31 * time.Second); return a },
			fails: "action 1 (rollback) at"},
		{name: "later when exact", m: Match{Source: "X", Exact: true},
			live:  func(a []incident.Action) []incident.Action { a[0].At = t0.Add(time.Second); return a },
			fails: "want from 0s before to 0s after"},
		{name: "earlier", m: Match{Source: "X", Late: time.Minute},
			live:  func(a []incident.Action) []incident.Action { a[0].At = t0.Add(-time.Second); return a },
			fails: "action 0 (page) at"},
		{name: "other kind", m: Match{Source: "X"},
			live:  func(a []incident.Action) []incident.Action { a[1].Kind = incident.RollbackFailed; return a },
			fails: "action 1: rollback_failed shop/web, replay rollback shop/web"},
		{name: "other cause", m: Match{Source: "X"},
			live: func(a []incident.Action) []incident.Action {
				a[0].Cause = &history.Change{Revision: 2, Manager: "helm"}
				return a
			},
			fails: "action 0: cause revision 2 by helm, replay revision 2 by kubectl-set"},
		{name: "other target", m: Match{Source: "X"},
			live:  func(a []incident.Action) []incident.Action { a[1].Plan = &rollback.Plan{ToRevision: 3}; return a },
			fails: "action 1: rollback target revision 3 (), replay revision 1 (web:v1)"},
		{name: "other ratio, not exact", m: Match{Source: "X"},
			live: func(a []incident.Action) []incident.Action { a[0].Ratio, a[0].Incident = 0.8, "i2"; return a }},
		{name: "other ratio, exact", m: Match{Source: "X", Exact: true},
			live:  func(a []incident.Action) []incident.Action { a[0].Ratio = 0.9 + 2e-6; return a },
			fails: "action 0: ratio"},
		{name: "other request rate, exact", m: Match{Source: "X", Exact: true},
			live:  func(a []incident.Action) []incident.Action { a[1].Requests = 40.001; return a },
			fails: "action 1: requests"},
		{name: "other incident, exact", m: Match{Source: "X", Exact: true},
			live:  func(a []incident.Action) []incident.Action { a[1].Incident = "i2"; return a },
			fails: "action 1: incident i2"},
		{name: "one missing", m: Match{Source: "X"},
			live:  func(a []incident.Action) []incident.Action { return a[:1] },
			fails: "1 actions over X, 2 in the replay"},
		{name: "replay without a rollback", m: Match{Source: "X"},
			want:  func(a []incident.Action) []incident.Action { return a[:1] },
			fails: "the replay paged 1 times and rolled back 0 times: nothing to compare"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, live := replay(), replay()
			if tc.want != nil {
				want = tc.want(want)
			}
			if tc.live != nil {
				live = tc.live(live)
			}
			r := run(func(tb TB) { Compare(tb, want, live, tc.m) })
			switch {
			case tc.fails == "" && r.failed():
				t.Errorf("failed:\n%s", r.failures())
			case tc.fails != "" && !strings.Contains(r.failures(), tc.fails):
				t.Errorf("failures\n%s\nwant one containing %q", r.failures(), tc.fails)
			}
		})
	}
}

func TestFailed(t *testing.T) {
	noData := fmt.Errorf("query x: %w", source.ErrNoData)
	for _, tc := range []struct {
		name   string
		err    error
		noData bool
		fails  string
	}{
		{name: "no data", err: noData, noData: true},
		{name: "other failure", err: errors.New("query x: 503")},
		{name: "success", fails: "got [1], want an error"},
		{name: "no data unexpected", err: noData, fails: "= true, want false"},
		{name: "no data missing", err: errors.New("query x: 503"), noData: true, fails: "= false, want true"},
		{name: "does not say what was done", err: errors.New("503"), fails: `error "503" does not say what was being done`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(func(tb TB) { Failed(tb, []int{1}, tc.err, "x", tc.noData) })
			if got := r.failures(); (tc.fails == "") != !r.failed() || !strings.Contains(got, tc.fails) {
				t.Errorf("failures %q, want %q", got, tc.fails)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := source.NewMetrics(reg, "x", []string{"timeout", "no_data"}, []string{"bad_value"})
	if err != nil {
		t.Fatal(err)
	}
	PreCreated(t, reg, []string{"timeout", "no_data"}, []string{"bad_value"})
	m.Failed("timeout")
	m.Failed("timeout")
	m.ObserveDuration(time.Millisecond)
	if got, want := Counts(t, reg, "sentinel_query_errors_total", "x", []string{"timeout", "no_data"}), map[string]float64{"timeout": 2}; !maps.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	if v := Value(t, reg, "sentinel_query_duration_seconds", map[string]string{"source": "x"}); v != 1 {
		t.Errorf("duration count %g, want 1", v)
	}
	if r := run(func(tb TB) { Value(tb, reg, "sentinel_query_errors_total", map[string]string{"source": "y"}) }); r.fatal == "" {
		t.Error("a missing series must fail the test")
	}
	if r := run(func(tb TB) { PreCreated(tb, reg, []string{"timeout"}, nil) }); !r.failed() {
		t.Error("PreCreated accepted the wrong series counts")
	}
}
