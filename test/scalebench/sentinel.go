package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Daemon is how `sentinel run` did against the populated cluster.
type Daemon struct {
	// Synced and Ready are how long after start /readyz stopped naming
	// the caches, and answered 200 (caches synced and a poll answered).
	Synced, Ready time.Duration
	// PeakRSS is the kernel's VmHWM at the end; RSS the last VmRSS.
	PeakRSS, RSS int64
	// CPUReady is the CPU time used until ready; CPUIdle that used in the
	// Settle after it (polls of a cluster without traffic, watches).
	CPUReady, CPUIdle time.Duration
	Settle            time.Duration
	// Workloads is sentinel_workloads_watched at the end.
	Workloads string
	// WarmUp is how long the warm-up took (from the caches' sync to its
	// end, as logged) and how many past instants the source answered.
	WarmUp      time.Duration
	WarmUpPolls int
}

func (d Daemon) String() string {
	return fmt.Sprintf("synced in %v, ready in %v (%v CPU); peak RSS %d MiB, RSS %d MiB after %v more (%v CPU); %s workloads watched",
		d.Synced.Round(10*time.Millisecond), d.Ready.Round(10*time.Millisecond), d.CPUReady.Round(10*time.Millisecond),
		d.PeakRSS>>20, d.RSS>>20, d.Settle, d.CPUIdle.Round(10*time.Millisecond), d.Workloads) +
		fmt.Sprintf("; warm-up %v over %d answered instants", d.WarmUp.Round(10*time.Millisecond), d.WarmUpPolls)
}

// warmUp reads from sentinel's log how long its warm-up took, from the
// caches' sync to the end of the replay, and how many instants it
// replayed.
func warmUp(log string) (time.Duration, int) {
	f, err := os.Open(log)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	var synced, done time.Time
	polls := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg   string    `json:"msg"`
			TS    time.Time `json:"ts"`
			Polls int       `json:"polls"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch l.Msg {
		case "kubernetes caches synced":
			synced = l.TS
		case "warmed up on metrics history":
			done, polls = l.TS, l.Polls
		}
	}
	if synced.IsZero() || done.IsZero() {
		return 0, polls
	}
	return done.Sub(synced), polls
}

// BuildSentinel builds cmd/sentinel into dir.
func BuildSentinel(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "sentinel")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sentinel")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sentinel: %w\n%s", err, out)
	}
	return bin, nil
}

// RunSentinel starts `sentinel run` against kubeconfig and prometheus
// (without leader election, as one replica), waits until /readyz answers
// 200, watches it for settle more, and stops it. env is added to its
// environment (KUBE_FEATURE_*, GOMEMLIMIT).
func RunSentinel(ctx context.Context, bin, dir, kubeconfig, prometheus string, settle time.Duration, env []string) (Daemon, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Daemon{}, fmt.Errorf("pick a port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("kubernetes:\n  kubeconfig: %q\nmetrics:\n  prometheus:\n    url: %q\nrun:\n  listen_address: %q\n  leader_election:\n    enabled: false\n",
		kubeconfig, prometheus, addr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return Daemon{}, fmt.Errorf("write sentinel config: %w", err)
	}
	logf, err := os.CreateTemp(dir, "sentinel-*.log")
	if err != nil {
		return Daemon{}, fmt.Errorf("sentinel log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Daemon{}, fmt.Errorf("start sentinel: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	var d Daemon
	url := "http://" + addr
	for d.Ready == 0 {
		select {
		case err := <-exited:
			return d, fmt.Errorf("sentinel exited before ready (%v); log: %s", err, logf.Name())
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		code, body := get(url + "/readyz")
		if d.Synced == 0 && code != 0 && !strings.Contains(body, "caches not synced") {
			d.Synced = time.Since(start)
		}
		if code == http.StatusOK {
			d.Ready = time.Since(start)
		}
	}
	d.CPUReady = procCPU(cmd.Process.Pid)
	d.WarmUp, d.WarmUpPolls = warmUp(logf.Name())
	select {
	case err := <-exited:
		return d, fmt.Errorf("sentinel exited after ready (%v); log: %s", err, logf.Name())
	case <-ctx.Done():
		return d, ctx.Err()
	case <-time.After(settle):
	}
	d.Settle = settle
	d.CPUIdle = procCPU(cmd.Process.Pid) - d.CPUReady
	d.RSS, d.PeakRSS = procMem(cmd.Process.Pid)
	_, metrics := get(url + "/metrics")
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, "sentinel_workloads_watched "); ok {
			d.Workloads = v
		}
	}
	return d, nil
}

// get returns a GET's status code and body; code 0 when it failed.
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// procMem reads a process's VmRSS and VmHWM in bytes.
func procMem(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// procCPU reads a process's user and system CPU time (utime and stime in
// /proc/PID/stat, in clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}
