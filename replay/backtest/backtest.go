// Package backtest answers "what would sentinel have done on our
// traffic?": it replays a past range of live metrics (a Prometheus
// query_range of the very query the daemon sends, or Datadog's timeseries
// over the range) and the cluster's change history through the engine
// the daemon runs, on the daemon's poll grid, and reports the actions
// with a summary an SRE can act on (summary.go). The change history
// comes from a recording's objects.yaml or from the cluster
// (cluster.go).
package backtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/source"
)

// Options say what to replay and where to report it.
type Options struct {
	Config config.Config
	// Source answers every poll instant from Start to End. An ErrNoData
	// answer leaves the poll's workloads unknown, as live; any other
	// error stops the backtest.
	Source engine.Source
	// Start is the first poll instant (engine.PollAt of the range's
	// start); End the last instant polled at or before.
	Start, End time.Time
	// Objects are the Deployments and ReplicaSets in observed order,
	// fed to the engine up to each poll as simulate does.
	Objects  []scenario.Object
	Notifier engine.Notifier
	// EngineOptions are passed to the engine (a poll hook for --trace
	// and --report).
	EngineOptions []engine.Option
	// Progress, when set, is told after every poll how many of how many
	// are done.
	Progress func(done, total int)
}

// Result summarises a backtest.
type Result struct {
	From, To time.Time
	Polls    int
	// NoData counts polls the source had no usable answer for.
	NoData  int
	Objects int
}

// Run replays the range. Simulated rollbacks are reported, never applied:
// after one, history goes on as it really happened.
func Run(ctx context.Context, o Options) (Result, error) {
	step := o.Config.Detection.PollInterval
	if step <= 0 {
		return Result{}, fmt.Errorf("detection.poll_interval must be positive, got %s", step)
	}
	if !engine.PollAt(o.Start, step).Equal(o.Start) {
		return Result{}, fmt.Errorf("start %s is not a poll instant (a multiple of %s)", o.Start.Format(time.RFC3339), step)
	}
	if o.End.Before(o.Start) {
		return Result{}, fmt.Errorf("end %s is before start %s", o.End.Format(time.RFC3339), o.Start.Format(time.RFC3339))
	}
	eng := engine.New(o.Config, o.Source, simulate.Recorded{}, o.Notifier, zap.NewNop(), o.EngineOptions...)
	res := Result{From: o.Start, To: o.End}
	total := int(o.End.Sub(o.Start)/step) + 1
	next := 0
	for now := o.Start; !now.After(o.End); now = now.Add(step) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		for ; next < len(o.Objects) && !o.Objects[next].At.After(now); next++ {
			simulate.Feed(eng, o.Objects[next])
			res.Objects++
		}
		if err := eng.Poll(ctx, now); err != nil {
			if !errors.Is(err, source.ErrNoData) {
				return res, err
			}
			res.NoData++
		}
		if err := eng.NotifyErr(); err != nil {
			return res, fmt.Errorf("report actions: %w", err)
		}
		res.Polls++
		if o.Progress != nil {
			o.Progress(res.Polls, total)
		}
	}
	return res, nil
}
