package trace

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/workload"
)

func TestLine(t *testing.T) {
	at := time.Date(2026, 4, 24, 23, 51, 15, 0, time.UTC)
	onset := at.Add(-15 * time.Second)
	web := workload.Ref{Namespace: "shop", Name: "web"}
	state := func(s detector.State, on time.Time) func(workload.Ref) (detector.State, time.Time) {
		return func(workload.Ref) (detector.State, time.Time) { return s, on }
	}
	obs := func(req, failed float64) []detector.Observation {
		return []detector.Observation{{Workload: workload.Ref{Namespace: "shop", Name: "cart"}, Requests: 9},
			{Workload: web, Requests: req, Failures: failed}}
	}
	const head = "2026-04-24T23:51:15Z  trace     shop/web  "
	tests := []struct {
		name string
		rec  engine.PollRecord
		want string
	}{
		{"healthy", engine.PollRecord{Observations: obs(40, 0.4), State: state(detector.StateOK, time.Time{})},
			head + "  40.00 req/s  ratio   1.0%  ok        ok       nothing to do: at or below the threshold 50%"},
		{"trickle", engine.PollRecord{Observations: obs(0.2, 0.2), State: state(detector.StateOK, time.Time{})},
			head + "   0.20 req/s  ratio 100.0%  unknown   ok       below the volume floor of 0.5 req/s: unknown, never healthy nor failing"},
		{"no series", engine.PollRecord{Observations: obs(40, 0)[:1], State: state(detector.StateOK, time.Time{})},
			head + "no data    ok       no series for the workload: unknown, never healthy nor failing"},
		{"source down", engine.PollRecord{SourceErr: errors.New("timeout"), State: state(detector.StateOK, time.Time{})},
			head + "no answer  ok       unknown: the source had no usable answer (timeout)"},
		{"an error with a newline stays on its line", engine.PollRecord{SourceErr: errors.New("bad sample\n2026-04-24T23:51:30Z  trace     shop/web"),
			State: state(detector.StateOK, time.Time{})},
			head + `no answer  ok       unknown: the source had no usable answer (bad sample\n2026-04-24T23:51:30Z  trace     shop/web)`},
		{"the revision rule not applied, and why", engine.PollRecord{Observations: obs(40, 30),
			State: state(detector.StateOK, time.Time{}), Evidence: unlabelled(web)},
			head + "  40.00 req/s  ratio  75.0%  breaching ok       above 50%: fires once that holds 30s" +
				"  [revision 2 95.0% at 30.00 req/s, 10.00 req/s without a revision label; judged as a whole: old pods unlabelled, their health unknown]"},
		{"pending", engine.PollRecord{Observations: obs(40, 39), State: state(detector.StatePending, onset)},
			head + "  40.00 req/s  ratio  97.5%  breaching pending  breaching since 23:51:00; pages once that holds 30s (held 15s)"},
		{"firing", engine.PollRecord{Observations: obs(40, 39), State: state(detector.StateFiring, onset)},
			head + "  40.00 req/s  ratio  97.5%  breaching firing   incident open since 23:51:00: no new page while it is open"},
		{"recovering", engine.PollRecord{Observations: obs(40, 0), State: state(detector.StateFiring, onset)},
			head + "  40.00 req/s  ratio   0.0%  ok        firing   incident open; at or below 50%, resolves after 3m0s of that"},
	}
	tr := New(nil, web, config.Default())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rec.At = at
			if diff := cmp.Diff(tt.want, tr.Line(tt.rec)); diff != "" {
				t.Errorf("Line (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWorkload(t *testing.T) {
	tests := []struct {
		in      string
		want    workload.Ref
		wantErr bool
	}{
		{in: "shop/web", want: workload.Ref{Namespace: "shop", Name: "web"}},
		{in: "web", wantErr: true},
		{in: "/web", wantErr: true},
		{in: "shop/", wantErr: true},
		{in: "a/b/c", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseWorkload(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseWorkload(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestTracerHoldsUntilFound: lines of polls without the workload are held
// until one has it, then printed as they would have been; a workload no
// poll had is one error naming those there were, with nothing printed.
func TestTracerHoldsUntilFound(t *testing.T) {
	web := workload.Ref{Namespace: "shop", Name: "web"}
	cart := workload.Ref{Namespace: "shop", Name: "cart"}
	at := time.Date(2026, 4, 24, 23, 0, 0, 0, time.UTC)
	ok := func(workload.Ref) (detector.State, time.Time) { return detector.StateOK, time.Time{} }
	recs := []engine.PollRecord{
		{At: at, Observations: []detector.Observation{{Workload: cart, Requests: 5}}, State: ok},
		{At: at.Add(15 * time.Second), SourceErr: errors.New("timeout"), State: ok},
		{At: at.Add(30 * time.Second), SourceErr: errors.New("timeout"), State: ok},
		{At: at.Add(45 * time.Second), Observations: []detector.Observation{{Workload: web, Requests: 40, Failures: 1}}, State: ok},
		{At: at.Add(60 * time.Second), Observations: []detector.Observation{{Workload: cart, Requests: 5}}, State: ok},
	}
	var want strings.Builder
	direct := New(nil, web, config.Default())
	for _, r := range recs {
		want.WriteString(direct.Line(r) + "\n")
	}
	var got strings.Builder
	tr := New(&got, web, config.Default())
	for i, r := range recs {
		tr.Hook(r)
		if i < 3 && got.Len() > 0 {
			t.Fatalf("printed before the workload was found:\n%s", got.String())
		}
	}
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("trace (-as printed at once +held):\n%s", diff)
	}
	if err := tr.Missing("the backtest"); err != nil {
		t.Errorf("Missing: %v", err)
	}

	got.Reset()
	api := workload.Ref{Namespace: "shop", Name: "api"}
	never := New(&got, workload.Ref{Namespace: "shop", Name: "wbe"}, config.Default())
	if never.Known([]workload.Ref{api}) {
		t.Error("Known: found a workload not given")
	}
	for _, r := range recs {
		never.Hook(r)
	}
	want2 := "--trace shop/wbe: no such workload in the backtest; did you mean shop/web? (its 3 workloads: shop/api, shop/cart, shop/web)"
	if err := never.Missing("the backtest"); err == nil || err.Error() != want2 || got.Len() > 0 {
		t.Errorf("Missing: %v, printed %q; want %s and nothing printed", err, got.String(), want2)
	}

	got.Reset()
	known := New(&got, web, config.Default())
	if !known.Known([]workload.Ref{cart, web}) {
		t.Error("Known: did not find the workload given")
	}
	known.Hook(recs[1])
	if diff := cmp.Diff(direct.Line(recs[1])+"\n", got.String()); diff != "" {
		t.Errorf("a known workload's poll is printed at once (-want +got):\n%s", diff)
	}
}

func TestNoSuchWorkload(t *testing.T) {
	ref := func(s string) workload.Ref {
		w, err := ParseWorkload(s)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	var fleet []workload.Ref
	for i := range 30 {
		fleet = append(fleet, workload.Ref{Namespace: fmt.Sprintf("team-%02d", i%3), Name: fmt.Sprintf("svc-%02d", i)})
	}
	for _, tc := range []struct {
		name  string
		trace string
		known []workload.Ref
		want  string
	}{
		{"a typo", "shop/crat", []workload.Ref{ref("shop/web"), ref("shop/cart"), ref("staging/cart")},
			"--trace shop/crat: no such workload in the recording; did you mean shop/cart? (its 3 workloads: shop/cart, shop/web, staging/cart)"},
		{"another namespace", "staging/web", []workload.Ref{ref("shop/web"), ref("staging/cart")},
			"--trace staging/web: no such workload in the recording; did you mean shop/web? (its 2 workloads: staging/cart, shop/web)"},
		{"a typo and another namespace", "staging/wbe", []workload.Ref{ref("shop/web"), ref("staging/cart")},
			"--trace staging/wbe: no such workload in the recording; its 2 workloads: staging/cart, shop/web"},
		{"nothing near", "ops/prometheus", []workload.Ref{ref("shop/web")},
			"--trace ops/prometheus: no such workload in the recording; its 1 workload: shop/web"},
		{"many, its namespace first", "team-02/svc-99", fleet,
			"--trace team-02/svc-99: no such workload in the recording; did you mean team-02/svc-29? (its 30 workloads: " +
				"team-02/svc-02, team-02/svc-05, team-02/svc-08, team-02/svc-11, team-02/svc-14, team-02/svc-17, " +
				"team-02/svc-20, team-02/svc-23, team-02/svc-26, team-02/svc-29 and 20 more)"},
		{"none", "shop/web", nil, "--trace shop/web: the recording has no workload at all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NoSuchWorkload(ref(tc.trace), tc.known, "the recording")
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// unlabelled is the evidence of a rollout whose new pods fail while the
// old pods' series carry no revision label.
func unlabelled(w workload.Ref) func(workload.Ref) (evidence.Workload, bool) {
	o := detector.Observation{Workload: w, Requests: 40, Failures: 30}
	return func(workload.Ref) (evidence.Workload, bool) {
		return evidence.Workload{Observed: o, Judged: o, Unlabelled: 10, Whole: evidence.WholeUnlabelled,
			Revisions: []evidence.Revision{{ReplicaSet: history.ReplicaSet{Name: "web-b", Revision: 2, Current: true},
				Requests: 30, Failures: 28.5}}}, true
	}
}
