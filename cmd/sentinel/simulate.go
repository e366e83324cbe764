package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/notify/pagerduty"
	"github.com/sentinel-sre/sentinel/replay/expect"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
)

// simulateFlags are simulate's flags.
type simulateFlags struct {
	cfgPath  string
	output   string
	expect   string
	progress bool
	ex       explainFlags
}

func newSimulate() *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate [--config FILE] [-o text|json|pagerduty] [--expect FILE] DIR",
		Short: "Replay a recorded incident and show what sentinel would have done",
		Long: `Replays a scenario directory (metrics.om, objects.yaml, optional config.yaml;
see docs/scenarios.md) through the same detector, attribution and rollback
decision the daemon runs.`,
		Example: "  sentinel simulate examples/mli-6574\n  sentinel simulate -o json examples/mli-6574\n" +
			"  sentinel simulate --expect examples/mli-6574/expected.json examples/mli-6574",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("simulate takes one scenario directory (holding metrics.om and objects.yaml), got %d arguments\n\n%s",
					len(args), strings.TrimRight(cmd.UsageString(), "\n"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimulate(cmd.Context(), cmd, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.cfgPath, "config", "", "configuration file (default: DIR/config.yaml, else built-in defaults)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text, json (one action per line) or pagerduty (the Events API v2 payloads the daemon would send)")
	cmd.Flags().StringVar(&f.expect, "expect", "", "compare the actions with this expected.json and exit non-zero on a difference")
	cmd.Flags().BoolVar(&f.progress, "progress", false, "show progress on stderr even when it is not a terminal")
	f.ex.add(cmd)
	return cmd
}

// recording is what a simulation replays, for messages.
const recording = "the recording (" + simulate.MetricsFile + " and " + simulate.ObjectsFile + ")"

func runSimulate(ctx context.Context, cmd *cobra.Command, dir string, f simulateFlags) error {
	if err := simulate.CheckDir(dir); err != nil {
		return err
	}
	cfg, cfgFrom, err := simulate.ResolveConfig(dir, f.cfgPath)
	if err != nil {
		return err
	}
	var want *expect.Expectation
	if f.expect != "" {
		e, err := expect.ReadFile(f.expect)
		if err != nil {
			return err
		}
		want = &e
	}
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	n, err := notifier(f.output, out, cfg)
	if err != nil {
		return err
	}
	x, err := f.ex.start(cfg, traceTo(f.output, cmd), "sentinel simulate "+dir)
	if err != nil {
		return err
	}
	defer x.close()
	got := &notify.Collect{}
	opts := simulate.Options{Engine: x.options, Workloads: x.check(recording)}
	if f.progress || isTerminal(stderr) {
		bars := &progressBars{w: stderr}
		defer bars.finish()
		opts.Progress = bars.update
	}
	res, err := simulate.Replay(ctx, dir, cfg, notify.Tee{n, got}, opts)
	if opts.Progress != nil {
		opts.Progress(simulate.Progress{}) // clear the bar before printing more
	}
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "sentinel: warning: %s\n", w)
	}
	res.Config = cfgFrom
	if f.output == "text" {
		if err := simulate.WriteSummary(out, res, got.Actions); err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
	} else {
		fmt.Fprintf(stderr, "sentinel: configuration: %s\n", cfgFrom)
	}
	var objects []scenario.Object
	if x.collector != nil {
		if objects, err = scenario.ReadObjectsFile(filepath.Join(dir, simulate.ObjectsFile)); err != nil {
			return err
		}
	}
	if err := x.finish(objects, got.Actions, recording); err != nil {
		return err
	}
	if want != nil {
		return compare(stderr, f.expect, *want, got.Actions)
	}
	return nil
}

// notifier prints actions in the output format asked for.
func notifier(output string, out io.Writer, cfg config.Config) (engine.Notifier, error) {
	switch output {
	case "text":
		return notify.Text{W: out}, nil
	case "json":
		return notify.JSON{W: out}, nil
	case "pagerduty":
		return pagerduty.Writer{W: out, Paging: cfg.Paging}, nil
	}
	return nil, fmt.Errorf("-o %q: want text, json or pagerduty", output)
}

// compare prints how actions differ from an expectation, and fails when
// they do.
func compare(w io.Writer, path string, want expect.Expectation, actions []incident.Action) error {
	v := want.Violations(actions)
	if len(v) == 0 {
		fmt.Fprintf(w, "sentinel: the actions meet %s\n", path)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the actions differ from %s:\n", path)
	for _, line := range v {
		fmt.Fprintf(&b, "  - %s\n", line)
	}
	fmt.Fprintf(&b, "the replay's actions (%d):\n", len(actions))
	for _, a := range actions {
		fmt.Fprintf(&b, "    %s  %-8s  %s\n", a.At.UTC().Format(time.RFC3339), a.Kind, a.Summary())
	}
	fmt.Fprint(w, b.String())
	return fmt.Errorf("%d %s from %s", len(v), plural(len(v), "difference", "differences"), path)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBars shows a replay's progress on stderr, one bar per phase;
// an empty Progress clears it.
type progressBars struct {
	w     io.Writer
	phase string
	bar   *progressbar.ProgressBar
}

func (p *progressBars) update(pr simulate.Progress) {
	if pr.Phase != p.phase {
		p.finish()
		p.phase = pr.Phase
		if pr.Phase == "" {
			return
		}
		desc, opts := "replaying", []progressbar.Option{progressbar.OptionSetItsString("polls")}
		if pr.Phase == simulate.PhaseRead {
			desc, opts = "reading metrics.om", []progressbar.Option{progressbar.OptionShowBytes(true)}
		}
		p.bar = progressbar.NewOptions64(pr.Total, append(opts, progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(), progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())...)
	}
	if p.bar != nil {
		_ = p.bar.Set64(pr.Done) // a failed write to stderr must not stop the replay
	}
}

func (p *progressBars) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		p.bar = nil
	}
}
