package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/replay/report"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/trace"
	"github.com/sentinel-sre/sentinel/workload"
)

// explainFlags are --trace and --report, shared by simulate and backtest.
type explainFlags struct {
	trace, report, title string
}

func (f *explainFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.trace, "trace", "", "print one line per poll for NAMESPACE/NAME: rates, ratio, detector state and why nothing happened")
	cmd.Flags().StringVar(&f.report, "report", "", "write a self-contained HTML timeline of every workload that paged or changed to this file")
}

// explain is what the flags set up for one replay.
type explain struct {
	options   []engine.Option
	collector *report.Collector
	tracer    *trace.Tracer
	path      string
	cfg       config.Config
	title     string
	// report is --report's file, opened before the replay so that one
	// that cannot be written fails first; created says it was not there.
	report  *os.File
	created bool
}

// traceTo is where --trace writes: beside a text timeline, else on
// stderr, so JSON output stays one object per line.
func traceTo(output string, cmd *cobra.Command) io.Writer {
	if output == "text" {
		return cmd.OutOrStdout()
	}
	return cmd.ErrOrStderr()
}

// start prepares the poll hook for the flags; out receives the trace.
func (f *explainFlags) start(cfg config.Config, out io.Writer, title string) (*explain, error) {
	x := &explain{path: f.report, cfg: cfg, title: title}
	var hooks []func(engine.PollRecord)
	if f.trace != "" {
		wl, err := trace.ParseWorkload(f.trace)
		if err != nil {
			return nil, err
		}
		x.tracer = trace.New(out, wl, cfg)
		hooks = append(hooks, x.tracer.Hook)
	}
	if f.report != "" {
		if err := x.open(); err != nil {
			return nil, err
		}
		x.collector = report.NewCollector()
		hooks = append(hooks, x.collector.Hook)
	}
	if len(hooks) > 0 {
		x.options = append(x.options, engine.WithPollHook(func(r engine.PollRecord) {
			for _, h := range hooks {
				h(r)
			}
		}))
	}
	return x, nil
}

// open opens --report's file for writing without emptying it: a replay
// that fails leaves a file that was there as it was, and removes one it
// created (close).
func (x *explain) open() error {
	f, err := os.OpenFile(x.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	x.created = err == nil
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(x.path, os.O_WRONLY, 0)
	}
	if err != nil {
		return fmt.Errorf("--report %s cannot be written: %w", x.path, err)
	}
	x.report = f
	return nil
}

// known tells the tracer of the workloads there are before any poll.
func (x *explain) known(workloads []workload.Ref) {
	if x.tracer != nil {
		x.tracer.Known(workloads)
	}
}

// check fails when --trace names none of workloads, all there are.
func (x *explain) check(where string) func([]workload.Ref) error {
	return func(workloads []workload.Ref) error {
		x.known(workloads)
		return x.missing(where)
	}
}

// missing is the tracer's error for a workload never found.
func (x *explain) missing(where string) error {
	if x.tracer == nil {
		return nil
	}
	return x.tracer.Missing(where)
}

// close removes a report file the replay created and did not write.
func (x *explain) close() {
	if x.report == nil {
		return
	}
	_ = x.report.Close()
	if x.created {
		_ = os.Remove(x.path)
	}
	x.report = nil
}

// finish writes the report, and reports a trace write error or a traced
// workload never found in where.
func (x *explain) finish(objects []scenario.Object, actions []incident.Action, where string) error {
	if x.tracer != nil && x.tracer.Err() != nil {
		return fmt.Errorf("write trace: %w", x.tracer.Err())
	}
	if x.collector != nil {
		if err := x.write(objects, actions); err != nil {
			return err
		}
	}
	return x.missing(where)
}

// write writes the report into the file opened before the replay.
func (x *explain) write(objects []scenario.Object, actions []incident.Action) error {
	f := x.report
	x.report = nil
	err := f.Truncate(0)
	if err == nil {
		err = x.collector.Write(f, report.Input{Title: x.title, Config: x.cfg, Actions: actions,
			Changes: report.Changes(objects, x.cfg.Rollback.Healthy.MinDuration)})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write report %s: %w", x.path, err)
	}
	return nil
}
