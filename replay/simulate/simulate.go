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
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
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
	// Config names the configuration used, a file or DefaultConfig, for
	// WriteSummary; the caller that resolved it (ResolveConfig) sets it.
	Config string
	// Skipped counts malformed samples skipped, by reason.
	Skipped map[string]int
	// Reordered counts samples written after a later one of their series,
	// kept in time order.
	Reordered int
	// Warnings say what the replay could not take from the recording as
	// the daemon would have seen it (objects without managedFields, a
	// custom query), one sentence each.
	Warnings []string
	// Unanswered counts the polls Options.Source did not answer (an
	// empty answer is an answer).
	Unanswered int
}

// DefaultConfig is Result.Config when no file was read.
const DefaultConfig = "built-in defaults"

// LoadConfig returns the configuration a replay of dir uses: the file
// given, else dir's own config.yaml, else the defaults.
func LoadConfig(dir, path string) (config.Config, error) {
	cfg, _, err := ResolveConfig(dir, path)
	return cfg, err
}

// ResolveConfig is LoadConfig that also says where the configuration came
// from: the file read, or DefaultConfig.
func ResolveConfig(dir, path string) (config.Config, string, error) {
	if path == "" {
		p := filepath.Join(dir, ConfigFile)
		if _, err := os.Stat(p); err == nil {
			path = p
		} else if !errors.Is(err, os.ErrNotExist) {
			return config.Config{}, "", fmt.Errorf("read config: %w", err)
		}
	}
	if path == "" {
		return config.Default(), DefaultConfig, nil
	}
	cfg, err := config.Load(path)
	return cfg, path, err
}

// CheckDir says what is wrong with dir as a scenario directory, if
// anything: it must be a directory holding metrics.om and objects.yaml.
func CheckDir(dir string) error {
	const want = "a scenario directory holds " + MetricsFile + ", " + ObjectsFile + " and optionally " + ConfigFile + " (docs/scenarios.md)"
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("scenario directory %s does not exist: %s", dir, want)
	case err != nil:
		return fmt.Errorf("scenario directory: %w", err)
	case !st.IsDir():
		return fmt.Errorf("%s is a file, not a scenario directory: give its directory (sentinel simulate %s); %s",
			dir, filepath.Dir(dir), want)
	}
	var missing []string
	for _, f := range []string{MetricsFile, ObjectsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("scenario directory %s has no %s: %s", dir, strings.Join(missing, " and no "), want)
	}
	return nil
}

// Options tune a replay.
type Options struct {
	// Source answers the polls instead of the recording's metrics.om
	// (nil: the recording), e.g. a Prometheus the recording was
	// backfilled into. The recording still sets the clock. A source error
	// leaves that poll's workloads unknown, as in the daemon, and is
	// counted in Result.Unanswered; the replay goes on.
	Source engine.Source
	// Progress, when set, is told how far the replay has come: the bytes
	// of metrics.om read, then the polls done.
	Progress func(Progress)
	// Engine are options of the replay's engine, e.g. a poll hook that
	// traces or draws the replay.
	Engine []engine.Option
	// Workloads, when set, is told the workloads the recording names (in
	// metrics.om and as Deployments in objects.yaml) once it is read;
	// an error ends the replay before its first poll.
	Workloads func([]workload.Ref) error
}

// Progress is how far one phase of a replay has come.
type Progress struct {
	// Phase is PhaseRead or PhaseReplay.
	Phase       string
	Done, Total int64
}

// Phases of a replay, for progress.
const (
	PhaseRead   = "read"
	PhaseReplay = "replay"
)

// Run replays the scenario in dir under cfg, reporting every action to
// notifier in time order.
func Run(ctx context.Context, dir string, cfg config.Config, notifier engine.Notifier) (Result, error) {
	return Replay(ctx, dir, cfg, notifier, Options{})
}

// RunWith is Run with the metrics answered by source (see Options.Source)
// and the engine built with opts.
func RunWith(ctx context.Context, dir string, cfg config.Config, notifier engine.Notifier, source engine.Source,
	opts ...engine.Option) (Result, error) {
	return Replay(ctx, dir, cfg, notifier, Options{Source: source, Engine: opts})
}

// Replay replays the scenario in dir under cfg, reporting every action to
// notifier in time order.
func Replay(ctx context.Context, dir string, cfg config.Config, notifier engine.Notifier, opts Options) (Result, error) {
	if err := CheckDir(dir); err != nil {
		return Result{}, err
	}
	metrics, objects, err := read(dir, cfg, opts.Progress)
	if err != nil {
		return Result{}, err
	}
	res := Result{Samples: metrics.Samples, Objects: len(objects), Skipped: metrics.Skipped, Reordered: metrics.Reordered,
		Warnings: warnings(dir, cfg, objects)}
	if metrics.Samples == 0 {
		return res, noSamples(filepath.Join(dir, MetricsFile), metrics, cfg)
	}
	if opts.Workloads != nil {
		if err := opts.Workloads(workloads(metrics, objects)); err != nil {
			return res, err
		}
	}

	var src engine.Source = metrics
	if opts.Source != nil {
		src = opts.Source
	}
	eng := engine.New(cfg, src, Recorded{}, notifier, zap.NewNop(), opts.Engine...)
	step := cfg.Detection.PollInterval
	// Polls fall on multiples of the interval, as the daemon's do, so a
	// replay and a live run evaluate at the same instants.
	start := engine.PollAt(metrics.First, step)
	res.From, res.To = start, metrics.Last
	total := int64(metrics.Last.Sub(start)/step) + 1
	next := 0
	for now := start; !now.After(metrics.Last); now = now.Add(step) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		for ; next < len(objects) && !objects[next].At.After(now); next++ {
			Feed(eng, objects[next])
		}
		if err := eng.Poll(ctx, now); err != nil {
			if opts.Source == nil {
				return res, err
			}
			if !source.Answered(err) {
				res.Unanswered++
			}
		}
		if err := eng.NotifyErr(); err != nil {
			return res, fmt.Errorf("report actions: %w", err)
		}
		res.Polls++
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: PhaseReplay, Done: int64(res.Polls), Total: total})
		}
	}
	return res, nil
}

// read reads the scenario's two files, which are independent: the
// objects beside the metrics.
func read(dir string, cfg config.Config, progress func(Progress)) (*scenario.Metrics, []scenario.Object, error) {
	ropts, err := scenario.OptionsFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	var (
		objects []scenario.Object
		objErr  error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		objects, objErr = scenario.ReadObjectsFile(filepath.Join(dir, ObjectsFile))
	}()
	metrics, err := readMetrics(filepath.Join(dir, MetricsFile), ropts, progress)
	<-done
	if err != nil {
		return nil, nil, err
	}
	if objErr != nil {
		return nil, nil, objErr
	}
	return metrics, objects, nil
}

// workloads are those the recording names: in its metrics, and as
// Deployments.
func workloads(m *scenario.Metrics, objects []scenario.Object) []workload.Ref {
	out := append(m.Workloads(), scenario.Deployments(objects)...)
	slices.SortFunc(out, workload.Compare)
	return slices.Compact(out)
}

// readMetrics reads metrics.om, telling progress of the bytes read.
func readMetrics(path string, opts scenario.Options, progress func(Progress)) (*scenario.Metrics, error) {
	if progress == nil {
		return scenario.ReadMetricsFile(path, opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return scenario.ReadMetrics(&countingReader{r: f, total: st.Size(), progress: progress}, path, opts)
}

// countingReader tells progress of the bytes read.
type countingReader struct {
	r           io.Reader
	done, total int64
	progress    func(Progress)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	c.progress(Progress{Phase: PhaseRead, Done: c.done, Total: c.total})
	return n, err
}

// noSamples says why a recording has nothing to replay.
func noSamples(path string, m *scenario.Metrics, cfg config.Config) error {
	names, _ := scenario.NamesFor(cfg.Metrics.Prometheus) // parsed before reading
	if n := m.Skipped[scenario.SkipNoTimestamp]; n > 0 {
		return fmt.Errorf("%s: %s of %s and none has a timestamp: a replay places every sample in time, "+
			"so each line must end in one, in seconds (name{labels} value 1773133200)", path, count(samplesOf(m), "sample"), names)
	}
	if m.Ignored > 0 {
		return fmt.Errorf("%s: no samples of %s (metrics.prometheus: metric, reporter_selector) to replay; "+
			"the file has %s of other series", path, names, count(m.Ignored, "sample"))
	}
	return fmt.Errorf("%s: no samples of %s to replay%s", path, names, skippedText(m.Skipped))
}

// count is "1 page", "2 pages".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func samplesOf(m *scenario.Metrics) int {
	n := m.Samples
	for _, k := range m.Skipped {
		n += k
	}
	return n
}

func skippedText(skipped map[string]int) string {
	if len(skipped) == 0 {
		return ""
	}
	return " (skipped: " + countsByReason(skipped) + ")"
}

// warnings are what a replay under cfg cannot take as the daemon would.
func warnings(dir string, cfg config.Config, objects []scenario.Object) []string {
	var out []string
	if len(objects) == 0 {
		out = append(out, scenario.NoObjects(holdsNone(filepath.Join(dir, ObjectsFile))))
	}
	if w := scenario.MissingManagedFields(filepath.Join(dir, ObjectsFile), objects); w != "" {
		out = append(out, w)
	}
	if strings.TrimSpace(cfg.Metrics.Prometheus.Query) != "" {
		out = append(out, "metrics.prometheus.query is set: a replay cannot run PromQL, so it computes the built-in "+
			"query with metrics.prometheus's metric, label names and reporter_selector")
	}
	if cfg.Metrics.Source != "prometheus" {
		out = append(out, fmt.Sprintf("metrics.source is %s: a recording holds Prometheus series, read with "+
			"metrics.prometheus's metric and label names", cfg.Metrics.Source))
	}
	return out
}

// holdsNone says how a file read has no objects: it is empty, or holds
// none (only comments, separators or an empty List).
func holdsNone(path string) string {
	if st, err := os.Stat(path); err == nil && st.Size() == 0 {
		return path + " is empty (0 bytes)"
	}
	return path + " holds no Deployment or ReplicaSet"
}

// Feed gives the engine one recorded object as the watcher would: a
// Deployment or ReplicaSet seen, or deleted.
func Feed(eng *engine.Engine, o scenario.Object) {
	switch {
	case o.Deleted && o.Deployment != nil:
		eng.DeleteDeployment(o.Deployment.Namespace, o.Deployment.Name)
	case o.Deleted && o.ReplicaSet != nil:
		for _, ref := range o.ReplicaSet.OwnerReferences {
			if ref.Kind == "Deployment" && ref.Controller != nil && *ref.Controller {
				eng.DeleteReplicaSet(o.ReplicaSet.Namespace, o.ReplicaSet.Name, ref.Name)
			}
		}
	case o.Deployment != nil:
		eng.ObserveDeployment(o.Deployment, o.At)
	case o.ReplicaSet != nil:
		eng.ObserveReplicaSet(o.ReplicaSet)
	}
}

// Recorded is the executor of a replay or a backtest: the rollback is
// reported, never applied, so the history goes on as it happened.
type Recorded struct{}

// Rollback does nothing: the plan is reported by the engine.
func (Recorded) Rollback(context.Context, *rollback.Plan) error { return nil }

// Verify has nothing to wait for.
func (Recorded) Verify(context.Context, *rollback.Plan) error { return nil }

// countsByReason lists skipped-sample counts as "reason=n", by reason.
func countsByReason(skipped map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(skipped)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, skipped[k]))
	}
	return strings.Join(parts, " ")
}
