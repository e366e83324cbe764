package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
)

// buildTestenv builds this command, or skips when the test binaries are
// not named (run by hand outside scripts/testenv.sh exec); under
// scripts/test.sh (SENTINEL_E2E=required) that fails.
func buildTestenv(t *testing.T) string {
	t.Helper()
	if os.Getenv("SENTINEL_TESTENV_ETCD") == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal("SENTINEL_TESTENV_ETCD is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test binaries: scripts/testenv.sh exec -- go test ./test/testenv/...")
	}
	bin := filepath.Join(t.TempDir(), "testenv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build testenv: %v\n%s", err, out)
	}
	return bin
}

// running lists the processes whose command line mentions dir: every
// component of the environment in dir does.
func running(t *testing.T, dir string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), dir+"/") || !alive(filepath.Dir(f)) {
			continue
		}
		out = append(out, strings.SplitN(string(b), "\x00", 2)[0])
	}
	return out
}

func alive(procDir string) bool {
	b, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	state := strings.Fields(s[strings.LastIndex(s, ")")+1:])[0]
	return state != "Z" && state != "X"
}

// waitNoneRunning waits until nothing of dir runs (init may take a moment
// to reap what a killed supervisor left).
func waitNoneRunning(t *testing.T, dir string) {
	t.Helper()
	var left []string
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { left = running(t, dir); return len(left) == 0, nil })
	if err != nil {
		t.Errorf("still running for %s: %v", dir, left)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// exec passes on the command's status, and a SIGTERM to the supervisor
// reaches the command's whole process group; either way nothing of the
// environment or of the command is left running.
func TestExecStatusAndSignals(t *testing.T) {
	bin := buildTestenv(t)
	tests := []struct {
		name     string
		script   string
		signal   bool
		wantCode int
	}{
		{name: "command fails", script: `echo "$SENTINEL_TEST_ENV_DIR"; echo $$; exit 3`, wantCode: 3},
		{name: "supervisor terminated", script: `echo "$SENTINEL_TEST_ENV_DIR"; sleep 300 & echo $!; wait`, signal: true,
			wantCode: 128 + int(syscall.SIGTERM)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "exec", "--", "sh", "-c", tt.script)
			cmd.Stdin = nil // not a terminal: the command gets its own group
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() }) // its components die with it
			lines := bufio.NewScanner(stdout)
			var dir string
			var pid int
			if lines.Scan() {
				dir = lines.Text()
			}
			if lines.Scan() {
				pid, _ = strconv.Atoi(lines.Text())
			}
			if tt.signal {
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
			for lines.Scan() {
			}
			err = cmd.Wait()
			if got := exitCode(err); got != tt.wantCode || dir == "" {
				t.Fatalf("exit code %d (%v), dir %q; want %d", got, err, dir, tt.wantCode)
			}
			waitNoneRunning(t, dir)
			if pid == 0 || alive("/proc/"+strconv.Itoa(pid)) {
				t.Errorf("the command's process %d outlived the supervisor", pid)
			}
			// A failed command keeps the logs for a post-mortem.
			if _, err := os.Stat(filepath.Join(dir, "logs", "kube-apiserver.log")); err != nil {
				t.Errorf("logs after a failure: %v", err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
		})
	}
}

// up leaves a supervisor running; when it is killed outright the
// components die with it (parent-death signal), and down clears what it
// left on disk.
func TestSupervisorKilled(t *testing.T) {
	bin := buildTestenv(t)
	dir := filepath.Join(t.TempDir(), "env")
	// Whatever fails below, the background supervisor goes.
	t.Cleanup(func() { _ = exec.Command(bin, "down", dir).Run() })
	if out, err := exec.Command(bin, "up", dir).CombinedOutput(); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	if got := running(t, dir); len(got) != 4 { // etcd, kube-apiserver, kube-controller-manager, prometheus
		t.Fatalf("running after up: %v", got)
	}
	if out, err := exec.Command(bin, "up", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), "already up in "+dir) {
		t.Errorf("second up: %v\n%s", err, out)
	}
	out, err := exec.Command("pgrep", "-f", "^"+bin+" serve "+dir+"$").Output()
	if err != nil {
		t.Fatalf("find the supervisor: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNoneRunning(t, dir)
	if out, err := exec.Command(bin, "down", dir).CombinedOutput(); err != nil {
		t.Fatalf("down after the supervisor died: %v\n%s", err, out)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, de := range entries {
		left = append(left, de.Name())
	}
	if diff := cmp.Diff([]string{"logs"}, left); diff != "" {
		t.Errorf("left in DIR after down (-want +got):\n%s", diff)
	}
}
