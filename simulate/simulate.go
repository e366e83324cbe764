// Package simulate replays a recorded incident through the engine the
// daemon runs — the same detector, attribution and rollback decision — on
// a clock driven by the recording, and reports what sentinel would have
// done. Simulated rollbacks are not applied to the recording: after one,
// the recording goes on as it really happened.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/recording"
	"github.com/sentinel-sre/sentinel/rollback"
)

// Scenario files inside a scenario directory.
const (
	MetricsFile = "metrics.om"
	ObjectsFile = "objects.yaml"
	ConfigFile  = "config.yaml"
)

// Result summarises a replay.
type Result struct {
	From, To time.Time
	Polls    int
	Samples  int
	Objects  int
	// Skipped counts malformed samples skipped, by reason.
	Skipped map[string]int
	Stats   engine.Stats
}

// LoadConfig returns the configuration a replay of dir uses: the file
// given, else dir's own config.yaml, else the defaults.
func LoadConfig(dir, path string) (config.Config, error) {
	if path == "" {
		p := filepath.Join(dir, ConfigFile)
		if _, err := os.Stat(p); err == nil {
			path = p
		} else if !errors.Is(err, os.ErrNotExist) {
			return config.Config{}, fmt.Errorf("read config: %w", err)
		}
	}
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// Run replays the scenario in dir under cfg, reporting every action to
// notifier in time order.
func Run(ctx context.Context, dir string, cfg config.Config, notifier engine.Notifier) (Result, error) {
	return RunWith(ctx, dir, cfg, notifier, nil)
}

// RunWith is Run with the metrics answered by source instead of the
// recording's metrics.om (nil: the recording), e.g. a Prometheus the
// recording was backfilled into. The recording still sets the clock. A
// source error leaves that poll's workloads unknown, as in the daemon, and
// is counted in Result.Stats.SourceErrors; the replay goes on. opts are
// passed to the engine (a poll hook for --trace and --report).
func RunWith(ctx context.Context, dir string, cfg config.Config, notifier engine.Notifier, source engine.Source, opts ...engine.Option) (Result, error) {
	codes, err := config.CompileCodes(cfg.Detection.FailureCodes)
	if err != nil {
		return Result{}, fmt.Errorf("detection.failure_codes: %w", err)
	}
	// The two files are independent: read the objects beside the metrics.
	var (
		objects []recording.Object
		objErr  error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		objects, objErr = recording.ReadObjectsFile(filepath.Join(dir, ObjectsFile))
	}()
	metrics, err := recording.ReadMetricsFile(filepath.Join(dir, MetricsFile), codes, cfg.Detection.RateWindow)
	<-done
	if err != nil {
		return Result{}, err
	}
	if objErr != nil {
		return Result{}, objErr
	}
	res := Result{Samples: metrics.Samples, Objects: len(objects), Skipped: metrics.Skipped}
	if metrics.Samples == 0 {
		return res, fmt.Errorf("%s: no istio_requests_total samples with reporter=%q to replay",
			filepath.Join(dir, MetricsFile), recording.Reporter)
	}

	var src engine.Source = metrics
	if source != nil {
		src = source
	}
	eng := engine.New(cfg, src, recorded{}, notifier, zap.NewNop(), opts...)
	step := cfg.Detection.PollInterval
	// Polls fall on multiples of the interval, as the daemon's do, so a
	// replay and a live run evaluate at the same instants.
	start := engine.PollAt(metrics.First, step)
	res.From, res.To = start, metrics.Last
	next := 0
	for now := start; !now.After(metrics.Last); now = now.Add(step) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		for ; next < len(objects) && !objects[next].At.After(now); next++ {
			feed(eng, objects[next])
		}
		if err := eng.Poll(ctx, now); err != nil && source == nil {
			return res, err
		}
		if err := eng.NotifyErr(); err != nil {
			return res, fmt.Errorf("report actions: %w", err)
		}
		res.Polls++
	}
	res.Stats = eng.Stats()
	return res, nil
}

func feed(eng *engine.Engine, o recording.Object) {
	switch {
	case o.Deployment != nil:
		eng.ObserveDeployment(o.Deployment, o.At)
	case o.ReplicaSet != nil:
		eng.ObserveReplicaSet(o.ReplicaSet)
	}
}

// recorded is the executor of a replay: the rollback is reported, never
// applied, so the recording goes on as it happened.
type recorded struct{}

func (recorded) Rollback(context.Context, *rollback.Plan) error { return nil }

// Collect is a notifier that keeps every action, for tests and callers
// that post-process them.
type Collect struct{ Actions []incident.Action }

// Notify keeps a.
func (c *Collect) Notify(_ context.Context, a incident.Action) error {
	c.Actions = append(c.Actions, a)
	return nil
}
