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
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, clk) }()
	var got []time.Duration
	for len(got) < 5 {
		select {
		case at := <-asked:
			got = append(got, at.Sub(t0))
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
	want := []time.Duration{15 * time.Second, 30 * time.Second, 45 * time.Second, 60 * time.Second, 75 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("polled instants after t0 (-want +got):\n%s", diff)
	}
}
