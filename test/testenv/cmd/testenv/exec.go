package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"github.com/sentinel-sre/sentinel/test/testenv"
)

// killGrace is how long the command has, after a forwarded signal, before
// its process group is killed.
const killGrace = 10 * time.Second

// execCmd starts an environment in a temporary DIR, runs argv with its
// variables, stops the environment and exits with argv's status. Signals
// go to argv (in its own process group unless it runs on a terminal);
// when argv ends, whatever it left in its group is killed, so nothing a
// failed or interrupted test started lives on. DIR is removed, except its
// logs when argv failed.
func execCmd(argv []string) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	opts, err := options()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sentinel-testenv.")
	if err != nil {
		return fmt.Errorf("create the environment's directory: %w", err)
	}
	env, err := startOrInterrupt(sigs, dir, opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	if l, err := env.Listen(ctx); err == nil {
		go func() { served <- env.Serve(ctx, l, func() {}) }()
	} else {
		served <- err
	}
	code := run(sigs, env.Environ(os.Environ()), argv)
	cancel()
	stopErr := errors.Join(<-served, env.Stop())
	if code == 0 && stopErr == nil {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
		return nil
	}
	fmt.Fprintf(os.Stderr, "testenv: logs kept in %s/logs\n", dir)
	if stopErr != nil {
		fmt.Fprintln(os.Stderr, "testenv: ERROR:", stopErr)
		code = max(code, 1)
	}
	return exitError{code: code}
}

// startOrInterrupt starts the environment; a signal meanwhile cancels the
// start, which stops whatever was already running.
func startOrInterrupt(sigs <-chan os.Signal, dir string, opts testenv.Options) (*testenv.Env, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		env *testenv.Env
		err error
	}
	started := make(chan result, 1)
	go func() {
		env, err := testenv.Start(ctx, dir, opts)
		started <- result{env, err}
	}()
	select {
	case r := <-started:
		return r.env, r.err
	case sig := <-sigs:
		cancel()
		r := <-started
		if r.env != nil {
			_ = r.env.Stop()
		}
		return nil, exitError{code: 128 + int(sig.(syscall.Signal))}
	}
}

// run runs argv and returns its exit status (128+N if signal N ended it).
func run(sigs <-chan os.Signal, environ, argv []string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = environ
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// On a terminal, ^C reaches the command directly and it must stay in
	// the terminal's foreground group; otherwise it gets a group of its own.
	ownGroup := !onTerminal(os.Stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: ownGroup}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: ERROR: start %s: %v\n", argv[0], err)
		return 127
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	var kill <-chan time.Time
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case sig := <-sigs:
			if ownGroup {
				_ = syscall.Kill(-cmd.Process.Pid, sig.(syscall.Signal))
			} else if sig != syscall.SIGINT {
				_ = cmd.Process.Signal(sig)
			}
			if kill == nil {
				kill = time.After(killGrace)
			}
		case <-kill:
			fmt.Fprintf(os.Stderr, "testenv: %s still running %s after the signal; killing it\n", argv[0], killGrace)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Process.Kill()
		}
	}
	if ownGroup {
		// What the command left behind in its group (a test's helpers
		// after a timeout, say) goes too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return status(cmd.ProcessState)
}

func status(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// onTerminal reports whether f is a terminal: whether it has terminal
// attributes (TCGETS), as isatty(3) decides. (golang.org/x/term does the
// same; it is only an indirect dependency of this module.)
func onTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
