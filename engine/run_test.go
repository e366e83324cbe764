package engine

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
)

// A source that takes 12 s to answer a 15 s poll, asked 5 s after its
// instant, runs into the next poll's slot: the next instant is still
// polled, late, and none is skipped.
func TestSlowSourceSkipsNoPoll(t *testing.T) {
	clk := testingclock.NewFakeClock(t0.Add(time.Second))
	asked := make(chan time.Time, 16)
	src := script(func(at time.Time) ([]detector.Observation, error) {
		clk.Step(12 * time.Second) // a slow answer
		asked <- at
		return nil, nil
	})
	e := New(config.Default(), src, &executor{}, &collect{}, zap.NewNop())
	var got []time.Duration
	for _, at := range runFor(t, e, clk, asked, 5) {
		got = append(got, at.Sub(t0))
	}
	want := []time.Duration{15 * time.Second, 30 * time.Second, 45 * time.Second, 60 * time.Second, 75 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("polled instants after t0 (-want +got):\n%s", diff)
	}
}

// The live polls go on from the warm-up's last instant: the instants that
// passed while it replayed are polled at once (a replica is ready, and a
// failure that began meanwhile judged, without waiting for the next
// slot), at most maxCatchUp of them; a warm-up that gave up on a down
// source leaves nothing to go on from.
func TestLivePollsGoOnFromTheWarmUp(t *testing.T) {
	healthy := []detector.Observation{{Workload: cart, Requests: 10}}
	for _, tc := range []struct {
		name string
		// perQuery is how long each warm-up query takes; after
		// answering downAfter of them (0: all) the source goes down.
		perQuery  time.Duration
		downAfter int
		// want is the first live instants, after t0, and when each was
		// asked (metrics.query_delay, 5 s, after the instant at the
		// earliest).
		want []asked
	}{
		// Started at t0+1s, before t0's query delay has passed, the
		// warm-up replays 59 instants, to t0-15s; the live polls ask t0
		// once its delay has passed. (Run's waits are stepped a second
		// at a time from the warm-up's end, hence the tenths.)
		{name: "instant warm-up", perQuery: 10 * time.Millisecond,
			// replayed by t0+1.59s: t0 once its delay has passed
			want: []asked{{0, 5590 * time.Millisecond}, {15 * time.Second, 20590 * time.Millisecond}}},
		{name: "quick warm-up", perQuery: 100 * time.Millisecond,
			// replayed by t0+6.9s: t0 at once, then t0+15s in its slot
			want: []asked{{0, 6900 * time.Millisecond}, {15 * time.Second, 20900 * time.Millisecond}}},
		{name: "slow warm-up", perQuery: 500 * time.Millisecond,
			// replayed by t0+30.5s: t0 and t0+15s at once
			want: []asked{{0, 30500 * time.Millisecond}, {15 * time.Second, 30500 * time.Millisecond},
				{30 * time.Second, 35500 * time.Millisecond}}},
		{name: "very slow warm-up", perQuery: 5 * time.Second,
			// replayed by t0+296s: the maxCatchUp instants up to then
			want: []asked{{240 * time.Second, 296 * time.Second}, {255 * time.Second, 296 * time.Second},
				{270 * time.Second, 296 * time.Second}, {285 * time.Second, 296 * time.Second},
				{300 * time.Second, 305 * time.Second}}},
		{name: "source down during the warm-up", perQuery: time.Second, downAfter: 40,
			// given up at t0+45s (40 answers, then metrics.blind_after
			// of 4 unanswered): nothing to go on from
			want: []asked{{45 * time.Second, 50 * time.Second}, {60 * time.Second, 65 * time.Second}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(t0.Add(time.Second))
			live := make(chan asked, 16)
			warming, queries := true, 0
			src := script(func(at time.Time) ([]detector.Observation, error) {
				if warming {
					if delay := config.Default().Metrics.QueryDelay; clk.Now().Before(at.Add(delay)) {
						t.Errorf("the warm-up asked for %s at %s, before its samples landed (%s after it)",
							at.Sub(t0), clk.Now().Sub(t0), delay)
					}
					clk.Step(tc.perQuery)
					if queries++; tc.downAfter > 0 && queries > tc.downAfter {
						return nil, context.DeadlineExceeded
					}
					return healthy, nil
				}
				live <- asked{at.Sub(t0), clk.Now().Sub(t0)}
				return healthy, nil
			})
			e := New(config.Default(), src, &executor{}, &collect{}, zap.NewNop())
			e.WarmUp(t.Context(), clk.Now())
			warming = false
			got := runFor(t, e, clk, live, len(tc.want))
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(asked{})); diff != "" {
				t.Errorf("live polls: instant and when asked, after t0 (-want +got):\n%s", diff)
			}
		})
	}
}

// asked is a poll instant and when the source was asked about it.
type asked struct{ instant, when time.Duration }

// runFor runs e until it has sent n values on ch, stepping clk a second
// whenever Run waits on it, and returns them.
func runFor[T any](t *testing.T, e *Engine, clk *testingclock.FakeClock, ch <-chan T, n int) []T {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, clk) }()
	var got []T
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the source was asked %d times in 10 s, want %d: %v", len(got), n, got)
		}
		select {
		case v := <-ch:
			got = append(got, v)
		default:
			if clk.HasWaiters() {
				clk.Step(time.Second)
			}
			time.Sleep(time.Millisecond) // let Run reach its next wait
		}
	}
	cancel()
	clk.Step(time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return got
}
