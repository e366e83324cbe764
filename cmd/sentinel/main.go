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
	promsource "github.com/sentinel-sre/sentinel/source/prometheus"
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
	root.AddCommand(newRun(), newSimulate(), newBacktest(time.Now), newRecord(time.Now), newCheckConfig(), newGuard(), newVersion())
	return root
}

func newCheckConfig() *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE",
		Short: "Validate a configuration file, list every problem, and print the query it sends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadChecked(args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return errors.New("configuration is invalid")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return writeQuery(cmd.OutOrStdout(), cfg)
		},
	}
}

// loadChecked loads a configuration as `sentinel run` needs it: valid, and
// with a query the Prometheus source can send (check-config and run agree).
func loadChecked(path string) (config.Config, error) {
	return config.Load(path, promsource.Check)
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
