package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
)

// An idle cluster, whose source answers with no data, is warned about
// when it becomes idle and told when traffic returns, not at every poll;
// a source that does not answer is still warned about at every poll.
func TestNoDataIsLoggedOncePerChange(t *testing.T) {
	noData := fmt.Errorf("query prometheus: empty answer: %w", source.ErrNoData)
	down := errors.New("query prometheus: connection refused")
	healthy := []detector.Observation{{Workload: cart, Requests: 10}}
	// The answer of each poll, in order.
	answers := []error{noData, noData, noData, nil, nil, noData, noData, down, down, noData, nil}

	cfg := config.Default()
	cfg.Run.WarmUp = 0
	clk := testingclock.NewFakeClock(t0.Add(time.Second))
	asked := make(chan int, len(answers))
	n := 0
	src := script(func(time.Time) ([]detector.Observation, error) {
		i := n
		n++
		asked <- i
		if i >= len(answers) { // polled while the test stops Run
			return nil, noData
		}
		if answers[i] != nil {
			return nil, answers[i]
		}
		return healthy, nil
	})
	core, logs := observer.New(zapcore.InfoLevel)
	e := New(cfg, src, &executor{}, &collect{}, zap.New(core))
	runFor(t, e, clk, asked, len(answers))

	var got []string
	for _, l := range logs.All() {
		switch {
		case strings.HasPrefix(l.Message, "poll without metrics: every workload unknown until"):
			got = append(got, "no data")
		case strings.HasPrefix(l.Message, "poll without metrics"):
			got = append(got, "down")
		case strings.HasPrefix(l.Message, "metrics have data again"):
			got = append(got, "data")
		}
	}
	want := []string{"no data", "data", "no data", "down", "down", "data"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("logged %v, want %v", got, want)
	}
}
