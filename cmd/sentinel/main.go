// Command sentinel watches Istio workloads for failure spikes, pages the
// on-call and rolls back out-of-band image changes. main only wires: it
// turns signals into a context and runs the chosen subcommand.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/simulate"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sentinel:", err)
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sentinel",
		Short:         "Page on failing Istio workloads and roll back out-of-band image changes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRun(), newSimulate(), newCheckConfig(), newVersion(), newBacktest(time.Now), newRecord(time.Now))
	return root
}

func newSimulate() *cobra.Command {
	var (
		cfgPath string
		output  string
		ex      explainFlags
	)
	cmd := &cobra.Command{
		Use:   "simulate [--config FILE] [-o text|json|pagerduty] DIR",
		Short: "Replay a recorded incident and show what sentinel would have done",
		Long: `Replays a scenario directory (metrics.om, objects.yaml, optional config.yaml)
through the same detector, attribution and rollback decision the daemon runs.`,
		Example: "  sentinel simulate examples/mli-6574\n  sentinel simulate -o json examples/mli-6574",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			cfg, err := simulate.LoadConfig(dir, cfgPath)
			if err != nil {
				return err
			}
			var n engine.Notifier
			out := cmd.OutOrStdout()
			switch output {
			case "text":
				n = simulate.TextWriter{W: out}
			case "json":
				n = simulate.JSONWriter{W: out}
			case "pagerduty":
				n = simulate.PagerDutyWriter{W: out, Paging: cfg.Paging}
			default:
				return fmt.Errorf("-o %q: want text, json or pagerduty", output)
			}
			res, err := runSimulate(cmd.Context(), dir, cfg, n, &ex, traceTo(output, cmd))
			if err != nil {
				return err
			}
			if output == "text" {
				if err := simulate.WriteSummary(out, res); err != nil {
					return fmt.Errorf("write summary: %w", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (default: DIR/config.yaml, else built-in defaults)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json (one action per line) or pagerduty (the Events API v2 payloads the daemon would send)")
	ex.add(cmd)
	return cmd
}

func newCheckConfig() *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE",
		Short: "Validate a configuration file and list every problem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.Load(args[0]); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return errors.New("configuration is invalid")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return nil
		},
	}
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print sentinel's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sentinel %s\n", v)
		},
	}
}
