package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/sentinel-sre/sentinel/test/testenv"
)

// up starts `testenv serve DIR` in a session of its own, so it outlives
// this command and the terminal, shows its progress until the environment
// is ready (or failed), and returns.
func up(dir string) error {
	ctx, cancel := signalContext()
	defer cancel()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	if testenv.Running(ctx, abs) {
		fmt.Fprintf(os.Stderr, "testenv: already up in %s (source %s/env)\n", abs, abs)
		return nil
	}
	if err := cleanStale(abs); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Join(abs, "logs"), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", abs, err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this executable: %w", err)
	}
	log, err := os.Create(logPath(abs))
	if err != nil {
		return fmt.Errorf("create supervisor log: %w", err)
	}
	defer log.Close()
	progress, progressW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("progress pipe: %w", err)
	}
	defer progress.Close()
	cmd := exec.Command(self, "serve", abs)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{progressW} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	progressW.Close() // the supervisor holds the only write end now
	if err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	go func() {
		<-ctx.Done() // interrupted: the supervisor stops what it started
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}()
	_, _ = io.Copy(os.Stderr, progress) // until the supervisor closes it: ready or failed
	if _, err := os.Stat(filepath.Join(abs, "env")); err != nil {
		_ = cmd.Wait()
		return fmt.Errorf("the environment did not come up (logs in %s)", filepath.Join(abs, "logs"))
	}
	fmt.Fprintf(os.Stderr, "testenv: use it with: source %s/env\n", abs)
	return cmd.Process.Release()
}

// serve is up's background half: it starts the environment, reports
// progress on fd 3 until it is ready, then answers on DIR/control.sock
// until `down` or a signal, and stops everything.
func serve(dir string) error {
	// fd 3 came without close-on-exec; the components must not inherit
	// it, or up would wait for them to close it.
	syscall.CloseOnExec(3)
	progress := os.NewFile(3, "progress")
	ctx, cancel := signalContext()
	defer cancel()
	opts, err := options()
	if err != nil {
		fmt.Fprintln(progress, "testenv: ERROR:", err)
		return err
	}
	opts.Log = io.MultiWriter(os.Stderr, progress) // the log first: a closed progress pipe fails the rest
	env, err := testenv.Start(ctx, dir, opts)
	if err != nil {
		fmt.Fprintln(progress, "testenv: ERROR:", err)
		return err
	}
	l, err := env.Listen(ctx)
	if err != nil {
		fmt.Fprintln(progress, "testenv: ERROR:", err)
		return errors.Join(err, env.Stop())
	}
	pid := filepath.Join(env.Dir, testenv.SupervisorPidFile)
	if err := os.WriteFile(pid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fmt.Fprintln(progress, "testenv: ERROR:", err)
		return errors.Join(err, env.Stop())
	}
	progress.Close()
	served := make(chan error, 1)
	go func() { served <- env.Serve(ctx, l, cancel) }()
	<-ctx.Done()
	return errors.Join(env.Stop(), <-served)
}
