package trace

import (
	"errors"
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
