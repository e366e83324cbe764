package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

func logDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, logsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	state := strings.Fields(s[strings.LastIndex(s, ")")+1:])[0]
	return state != "Z" && state != "X"
}

// waitGone waits until pid no longer runs (init may take a moment to reap
// an orphan).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return !alive(pid), nil })
	if err != nil {
		t.Errorf("pid %d still runs: %v", pid, err)
	}
}

// A component that ignores SIGTERM is killed after the grace period, and
// so is whatever it started in its process group.
func TestStopKillsTheGroup(t *testing.T) {
	dir := logDir(t)
	pidFile := filepath.Join(dir, "child.pid")
	p, err := startProcess(dir, "stubborn", "/bin/sh",
		[]string{"-c", `trap "" TERM; sleep 300 & echo $! > ` + pidFile + `; wait`})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	err = wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) {
			b, err := os.ReadFile(pidFile)
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil && child > 0, nil
		})
	if err != nil {
		t.Fatalf("the component's child never started: %v", err)
	}
	p.stop(200 * time.Millisecond)
	gone, err := p.exited()
	var exit *exec.ExitError
	if !gone || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("exited() = %v, %v; want reaped after SIGKILL (SIGTERM ignored)", gone, err)
	}
	waitGone(t, child)
}

func TestExitedDuringStartup(t *testing.T) {
	dir := logDir(t)
	p, err := startProcess(dir, "crash", "/bin/sh", []string{"-c", "echo listen tcp 127.0.0.1:1: bind: address already in use; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	gone, err := p.exited()
	if !gone || err == nil || err.Error() != "exit status 3" {
		t.Errorf("exited() = %v, %v; want true, exit status 3", gone, err)
	}
	if !portTaken(dir, "crash", 0) {
		t.Error("portTaken missed the bind error")
	}
	if portTaken(dir, "crash", logSize(dir, "crash")) {
		t.Error("portTaken read a bind error from before the offset")
	}
	if tail := logTail(dir, "crash", 40); !strings.Contains(tail, "address already in use") {
		t.Errorf("log tail %q", tail)
	}
}

func TestStartProcessMissingBinary(t *testing.T) {
	_, err := startProcess(logDir(t), "etcd", "/nonexistent/etcd", nil)
	if err == nil || !strings.Contains(err.Error(), "start etcd (/nonexistent/etcd)") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

// Ports handed out are distinct, in range and free to bind.
func TestPortAllocator(t *testing.T) {
	a := portAllocator{picked: map[int]bool{}}
	seen := map[int]bool{}
	for range 20 {
		p, err := a.next()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] || p < 20000 || p >= 32000 {
			t.Fatalf("port %d: repeated or out of 20000-31999", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		defer l.Close()
	}
}
