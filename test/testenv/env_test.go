package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
)

// testLog sends the environment's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// needBinaries returns Options for an environment of the test's own, from
// the variables scripts/testenv.sh sets, or skips when run by hand
// without them. Under scripts/test.sh (SENTINEL_E2E=required) their
// absence fails.
func needBinaries(t *testing.T) Options {
	t.Helper()
	if os.Getenv(varEtcd) == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal(varEtcd + " is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test binaries: scripts/testenv.sh exec -- go test ./test/testenv")
	}
	o, err := OptionsFromEnv(os.Getenv, testLog{t}, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// kubectl runs kubectl as the environment's admin and returns its
// standard output.
func kubectl(t *testing.T, e *Env, args ...string) []byte {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", e.path(kubeconfigFile)}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return out
}

// An environment of the test's own: the real server version, a restart
// on the same URL through the control socket, and nothing left running
// or on disk but the logs once it is stopped.
func TestEnvironment(t *testing.T) {
	opts := needBinaries(t)
	e, err := Start(t.Context(), filepath.Join(t.TempDir(), "env"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })

	var v struct {
		Server struct {
			GitVersion string `json:"gitVersion"`
		} `json:"serverVersion"`
	}
	if err := json.Unmarshal(kubectl(t, e, "version", "-o", "json"), &v); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(opts.KubeVersion, v.Server.GitVersion); diff != "" {
		t.Errorf("kubectl version: server (-want +got):\n%s", diff)
	}

	l, err := e.Listen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.Serve(t.Context(), l, func() {}) }()
	before := e.Pids()["kube-apiserver"]
	if err := Restart(t.Context(), e.Dir, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	if after := e.Pids()["kube-apiserver"]; after == before || alive(before) {
		t.Errorf("kube-apiserver pid %d before the restart, %d after; the old one alive: %v", before, after, alive(before))
	}
	kubectl(t, e, "get", "namespace", "default") // same kubeconfig, same URL
	err = Restart(t.Context(), e.Dir, "scheduler")
	want := "test environment in " + e.Dir + `, POST /restart/scheduler: restart "scheduler": no such component (want etcd, kube-apiserver, kube-controller-manager or prometheus)`
	if err == nil || err.Error() != want {
		t.Errorf("restart scheduler: %v\nwant %s", err, want)
	}

	// Frozen, the API server holds connections and answers nothing;
	// thawed, it answers again. Stop reaps a frozen component too.
	if err := Freeze(t.Context(), e.Dir, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("kubectl", "--kubeconfig", e.path(kubeconfigFile), "--request-timeout=1s",
		"get", "namespace", "default").CombinedOutput(); err == nil {
		t.Errorf("kubectl answered by a frozen API server:\n%s", out)
	}
	if err := Thaw(t.Context(), e.Dir, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	kubectl(t, e, "get", "namespace", "default")
	if err := Freeze(t.Context(), e.Dir, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	err = Freeze(t.Context(), e.Dir, "scheduler")
	want = "test environment in " + e.Dir + `, POST /freeze/scheduler: freeze "scheduler": no such component running (want etcd, kube-apiserver, kube-controller-manager or prometheus)`
	if err == nil || err.Error() != want {
		t.Errorf("freeze scheduler: %v\nwant %s", err, want)
	}

	pids := e.Pids()
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) outlived Stop", name, pid)
		}
	}
	entries, err := os.ReadDir(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, de := range entries {
		left = append(left, de.Name())
	}
	if diff := cmp.Diff([]string{logsDir}, left); diff != "" {
		t.Errorf("left in DIR after Stop (-want +got):\n%s", diff)
	}
}
