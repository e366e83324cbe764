package detector

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/workload"
)

var (
	t0   = time.Date(2026, 4, 24, 23, 50, 0, 0, time.UTC)
	cart = workload.Ref{Namespace: "shop", Name: "cart"}
	web  = workload.Ref{Namespace: "shop", Name: "web"}
)

func rule() Rule {
	return Rule{Threshold: 0.5, For: 30 * time.Second, MinRequestRate: 0.5, ResolveAfter: 3 * time.Minute}
}

// obs is a poll of one workload: rps requests per second, ratio failing.
// rps -1 means no observation at all (no data), rps scaledToZero its
// Deployment scaled to zero (BasisScaledToZero).
type obs struct{ rps, ratio float64 }

const scaledToZero = -2

func TestJudge(t *testing.T) {
	r := rule()
	cases := []struct {
		name string
		o    Observation
		want Verdict
	}{
		{"just over half failing", Observation{Requests: 10, Failures: 5.01}, Breaching},
		{"exactly half failing is not above", Observation{Requests: 10, Failures: 5}, OK},
		{"just under half failing", Observation{Requests: 10, Failures: 4.99}, OK},
		{"below the volume floor", Observation{Requests: 0.49, Failures: 0.49}, Unknown},
		{"exactly the volume floor", Observation{Requests: 0.5, Failures: 0.5}, Breaching},
		{"no traffic", Observation{}, Unknown},
		{"extrapolation overshoot clamps to 1", Observation{Requests: 10, Failures: 10.2}, Breaching},
		{"scaled to zero: nothing wanted, nothing fails", Observation{Basis: BasisScaledToZero}, OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Judge(tc.o); got != tc.want {
				t.Errorf("Judge(requests %v, failures %v) = %v, want %v", tc.o.Requests, tc.o.Failures, got, tc.want)
			}
		})
	}
	if got := (Observation{Requests: 10, Failures: 10.2}).Ratio(); got != 1 {
		t.Errorf("ratio %v, want clamp to 1", got)
	}
}

// finding as the tests expect it: poll index it comes at, kind, onset poll.
type want struct {
	at       int
	kind     Kind
	onset    int
	reopened bool
}

func TestLifeCycle(t *testing.T) {
	const step = 15 * time.Second
	bad, good, none, trickle := obs{40, 0.97}, obs{40, 0.01}, obs{-1, 0}, obs{0.2, 1}
	zero := obs{scaledToZero, 0}
	// A 90%/20% square wave of period 1m seen through a 1m rate window of
	// 15s scrapes swings between about 66% and 43%.
	high, low := obs{40, 0.66}, obs{40, 0.43}
	swing := func(n int, phases ...obs) []obs {
		var out []obs
		for len(out) < n {
			out = append(out, phases...)
		}
		return out[:n]
	}
	repeat := func(o obs, n int) []obs {
		out := make([]obs, n)
		for i := range out {
			out[i] = o
		}
		return out
	}
	cat := func(parts ...[]obs) []obs {
		var out []obs
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		rule  func(*Rule)
		polls []obs
		want  []want
	}{
		{name: "healthy traffic never fires", polls: repeat(good, 40)},
		{name: "breach held for 30s fires once, onset at the first breaching poll",
			polls: cat(repeat(good, 2), repeat(bad, 20)),
			want:  []want{{at: 4, kind: Firing, onset: 2}}},
		{name: "a breach shorter than for never fires",
			polls: cat(repeat(bad, 2), repeat(good, 10), repeat(bad, 2), repeat(good, 5))},
		{name: "for 0 fires on the first breaching poll", rule: func(r *Rule) { r.For = 0 },
			polls: cat(repeat(good, 1), repeat(bad, 3)),
			want:  []want{{at: 1, kind: Firing, onset: 1}}},
		{name: "resolves after 3m at or below the threshold, never re-pages while open",
			polls: cat(repeat(bad, 10), repeat(good, 13), repeat(good, 2)),
			want:  []want{{at: 2, kind: Firing, onset: 0}, {at: 22, kind: Resolved, onset: 0}}},
		{name: "a breach during the resolve wait restarts it",
			polls: cat(repeat(bad, 3), repeat(good, 8), repeat(bad, 1), repeat(good, 13)),
			want:  []want{{at: 2, kind: Firing, onset: 0}, {at: 24, kind: Resolved, onset: 0}}},
		{name: "traffic below the volume floor is unknown: never fires",
			polls: repeat(trickle, 30)},
		{name: "no data while pending drops the breach",
			polls: cat(repeat(bad, 1), repeat(none, 1), repeat(bad, 2), repeat(good, 3)),
		},
		{name: "a gap in the metrics while firing neither resolves nor re-pages",
			polls: cat(repeat(bad, 3), repeat(none, 20), repeat(bad, 2), repeat(good, 13)),
			want:  []want{{at: 2, kind: Firing, onset: 0}, {at: 37, kind: Resolved, onset: 0}}},
		{name: "unknown breaks the healthy streak before resolve",
			polls: cat(repeat(bad, 3), repeat(good, 10), repeat(trickle, 1), repeat(good, 13)),
			want:  []want{{at: 2, kind: Firing, onset: 0}, {at: 26, kind: Resolved, onset: 0}}},
		{name: "a second spike after resolve is a new incident",
			polls: cat(repeat(bad, 3), repeat(good, 13), repeat(bad, 3)),
			want:  []want{{at: 2, kind: Firing, onset: 0}, {at: 15, kind: Resolved, onset: 0}, {at: 18, kind: Firing, onset: 16}}},
		{name: "a failure swinging across the line fires once, on the span's ratio",
			polls: swing(40, high, low, low, high),
			want:  []want{{at: 3, kind: Firing, onset: 0}}},
		{name: "a spike between healthy polls falls under the line over its span and never fires",
			polls: swing(40, bad, good, good, good)},
		{name: "two breaching polls then a healthy one do not fire: the firing poll must breach",
			polls: cat(repeat(bad, 2), repeat(good, 10))},
		{name: "a swing whose span stays under the line never fires",
			polls: swing(40, obs{40, 0.55}, obs{40, 0.3})},
		{name: "scaled to zero while firing: resolves after resolve_after, as if healthy",
			polls: cat(repeat(bad, 3), repeat(zero, 13)),
			want:  []want{{at: 2, kind: Firing, onset: 0}, {at: 15, kind: Resolved, onset: 0}}},
		{name: "scaled to zero while pending drops the breach",
			polls: cat(repeat(bad, 1), repeat(zero, 1), repeat(bad, 1), repeat(zero, 20))},
		{name: "a re-fire within reopen_within continues the incident", rule: func(r *Rule) { r.ReopenWithin = 10 * time.Minute },
			polls: cat(repeat(bad, 3), repeat(good, 13), repeat(bad, 3), repeat(good, 13)),
			want: []want{{at: 2, kind: Firing, onset: 0}, {at: 15, kind: Resolved, onset: 0},
				{at: 18, kind: Firing, onset: 0, reopened: true}, {at: 31, kind: Resolved, onset: 0}}},
		{name: "a re-fire after reopen_within is a new incident", rule: func(r *Rule) { r.ReopenWithin = 5 * time.Minute },
			polls: cat(repeat(bad, 3), repeat(good, 13), repeat(none, 20), repeat(bad, 3)),
			want:  []want{{at: 2, kind: Firing, onset: 0}, {at: 15, kind: Resolved, onset: 0}, {at: 38, kind: Firing, onset: 36}}},
		{name: "a short breach after a resolve neither fires nor forgets the incident", rule: func(r *Rule) { r.ReopenWithin = 10 * time.Minute },
			polls: cat(repeat(bad, 3), repeat(good, 13), repeat(bad, 1), repeat(good, 2), repeat(bad, 3)),
			want: []want{{at: 2, kind: Firing, onset: 0}, {at: 15, kind: Resolved, onset: 0},
				{at: 21, kind: Firing, onset: 0, reopened: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rule()
			if tc.rule != nil {
				tc.rule(&r)
			}
			d := New(r)
			var got []want
			for i, p := range tc.polls {
				now := t0.Add(time.Duration(i) * step)
				var in []Observation
				switch {
				case p.rps == scaledToZero:
					in = append(in, Observation{Workload: cart, Basis: BasisScaledToZero})
				case p.rps >= 0:
					in = append(in, Observation{Workload: cart, Requests: p.rps, Failures: p.rps * p.ratio})
				}
				// A healthy neighbour in every poll must never appear.
				in = append(in, Observation{Workload: web, Requests: 20, Failures: 0.1})
				for _, f := range d.Evaluate(now, in) {
					if f.Workload != cart {
						t.Fatalf("finding for %v", f.Workload)
					}
					if !f.At.Equal(now) {
						t.Errorf("finding at %v, evaluated at %v", f.At, now)
					}
					got = append(got, want{at: i, kind: f.Kind, onset: int(f.Onset.Sub(t0) / step), reopened: f.Reopened})
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindingCarriesRatiosAndIncidentID(t *testing.T) {
	d := New(rule())
	var fs []Finding
	for i, ratio := range []float64{0.6, 0.9, 0.7} {
		fs = append(fs, d.Evaluate(t0.Add(time.Duration(i)*15*time.Second),
			[]Observation{{Workload: cart, Requests: 10, Failures: 10 * ratio}})...)
	}
	kinds := make([]Kind, 0, len(fs))
	for _, f := range fs {
		kinds = append(kinds, f.Kind)
	}
	if diff := cmp.Diff([]Kind{Firing}, kinds); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	f := fs[0]
	type ratios struct{ Ratio, PeakRatio, Requests float64 }
	if diff := cmp.Diff(ratios{0.7, 0.9, 10}, ratios{f.Ratio, f.PeakRatio, f.Requests}); diff != "" {
		t.Errorf("finding (-want +got):\n%s", diff)
	}
	if got, want := workload.IncidentID(f.Workload, f.Onset), "shop/cart@2026-04-24T23:50:00Z"; got != want {
		t.Errorf("incident id %q, want %q", got, want)
	}
	if s, onset := d.State(cart); s != StateFiring || !onset.Equal(t0) {
		t.Errorf("state %v onset %v", s, onset)
	}
}

func TestQuietWorkloadsLeaveNoState(t *testing.T) {
	d := New(rule())
	for i := 0; i < 100; i++ {
		d.Evaluate(t0.Add(time.Duration(i)*time.Second), []Observation{{Workload: workload.Ref{Namespace: "ns", Name: string(rune('a' + i%26))}, Requests: 5}})
	}
	if len(d.states) != 0 {
		t.Errorf("%d states kept for healthy workloads", len(d.states))
	}
}

func TestBackdate(t *testing.T) {
	const step = 15 * time.Second
	bad := Observation{Workload: cart, Requests: 40, Failures: 36}
	cases := []struct {
		name      string
		polls     int // breaching polls from t0
		onset     time.Time
		want      bool
		wantOnset time.Time
	}{
		{"a firing breach moves back", 4, t0.Add(-time.Hour), true, t0.Add(-time.Hour)},
		{"a pending breach moves back", 1, t0.Add(-time.Minute), true, t0.Add(-time.Minute)},
		{"never forward", 4, t0.Add(step), false, t0},
		{"nothing to move without a breach", 0, t0.Add(-time.Hour), false, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := New(rule())
			for i := range tc.polls {
				d.Evaluate(t0.Add(time.Duration(i)*step), []Observation{bad})
			}
			got := d.Backdate(cart, tc.onset)
			_, onset := d.State(cart)
			if diff := cmp.Diff([]any{tc.want, tc.wantOnset}, []any{got, onset}); diff != "" {
				t.Errorf("backdated, onset (-want +got):\n%s", diff)
			}
		})
	}
}
