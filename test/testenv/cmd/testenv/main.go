// Command testenv runs sentinel's end-to-end test environment (package
// test/testenv). scripts/testenv.sh builds the binaries it needs,
// names them in SENTINEL_TESTENV_* variables and runs this command:
//
//	testenv up DIR              start in DIR, in the background; source DIR/env
//	testenv down DIR            stop what up started
//	testenv exec -- CMD ARGS    start in a temporary DIR, run CMD with its env, stop
//	testenv restart NAME DIR    restart one component on the same ports
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/test/testenv"
)

// exitError carries a status to exit with and nothing to print (the
// command under exec has said what it had to).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	err := root().Execute()
	var ex exitError
	switch {
	case errors.As(err, &ex):
		os.Exit(ex.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "testenv: ERROR:", err)
		os.Exit(1)
	}
}

func root() *cobra.Command {
	cmd := &cobra.Command{Use: "testenv", Short: "sentinel's end-to-end test environment",
		SilenceUsage: true, SilenceErrors: true}
	cmd.AddCommand(
		&cobra.Command{Use: "up DIR", Short: "start the environment in DIR, in the background", Args: cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error { return up(args[0]) }},
		&cobra.Command{Use: "down DIR", Short: "stop it and remove its runtime state (logs/ is kept)", Args: cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error { return down(args[0]) }},
		&cobra.Command{Use: "exec -- CMD [ARGS...]", Short: "start in a temporary DIR, run CMD with its environment, stop",
			DisableFlagParsing: true, RunE: func(_ *cobra.Command, args []string) error {
				if len(args) > 0 && args[0] == "--" {
					args = args[1:]
				}
				if len(args) == 0 {
					return errors.New("usage: testenv exec -- CMD [ARGS...]")
				}
				return execCmd(args)
			}},
		&cobra.Command{Use: "restart NAME DIR", Short: "restart a component (kube-apiserver, prometheus, ...) on the same ports",
			Args: cobra.ExactArgs(2), RunE: func(_ *cobra.Command, args []string) error { return restart(args[0], args[1]) }},
		&cobra.Command{Use: "serve DIR", Hidden: true, Args: cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error { return serve(args[0]) }},
	)
	return cmd
}

func options() (testenv.Options, error) {
	return testenv.OptionsFromEnv(os.Getenv, os.Stderr, clock.RealClock{})
}

// signalContext ends on SIGINT, SIGTERM or SIGHUP.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
}

func restart(name, dir string) error {
	ctx, cancel := signalContext()
	defer cancel()
	t0 := time.Now()
	if err := testenv.Restart(ctx, dir, name); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "testenv: %s restarted in %s\n", name, time.Since(t0).Round(time.Millisecond))
	return nil
}

// down stops the environment in dir through its supervisor; state left
// by a supervisor that died is removed. A dir that does not exist is
// already down.
func down(dir string) error {
	ctx, cancel := signalContext()
	defer cancel()
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	t0 := time.Now()
	switch pid := supervisor(dir); {
	case testenv.Running(ctx, dir):
		if err := testenv.Shutdown(ctx, dir); err != nil {
			return err
		}
	case pid > 0:
		// Alive but not answering: TERM makes it stop everything too.
		if err := terminate(ctx, pid); err != nil {
			return err
		}
	default:
		if err := cleanStale(dir); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "testenv: down in %s\n", time.Since(t0).Round(time.Millisecond))
	return nil
}

// supervisor is the pid of dir's background supervisor if it runs, else 0.
func supervisor(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, testenv.SupervisorPidFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "\x00serve\x00"+dir) {
		return 0 // gone, or the pid was reused
	}
	return pid
}

// terminate sends SIGTERM to pid and waits until it has exited.
func terminate(ctx context.Context, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop supervisor %d: %w", pid, err)
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return syscall.Kill(pid, 0) != nil, nil
	})
}

// cleanStale removes what a dead supervisor left in dir; a dir with no
// state, or only logs, is left alone.
func cleanStale(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if len(entries) == 0 || (len(entries) == 1 && entries[0].Name() == "logs") {
		return nil
	}
	return testenv.Clean(dir)
}

// logPath is where the background supervisor of up writes.
func logPath(dir string) string { return filepath.Join(dir, "logs", "testenv.log") }
