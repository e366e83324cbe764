// Package promenv gives tests the real Prometheus (and API server) that
// scripts/testenv.sh starts, and backfills recordings into it with
// promtool. Test code only.
package promenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"
)

// Env is the test environment.
type Env struct {
	URL, Data, Dir, Promtool, Kubeconfig string
	API                                  v1.API
	// Clock times the waits (the real clock).
	Clock clock.Clock
}

// Need returns the environment, or skips when run by hand without one.
// Under scripts/test.sh (SENTINEL_E2E=required) a missing one fails.
func Need(t testing.TB) Env {
	t.Helper()
	e := Env{URL: os.Getenv("SENTINEL_TEST_PROMETHEUS_URL"), Data: os.Getenv("SENTINEL_TEST_PROMETHEUS_DATA"),
		Dir: os.Getenv("SENTINEL_TEST_ENV_DIR"), Promtool: os.Getenv("PROMTOOL"), Kubeconfig: os.Getenv("KUBECONFIG"),
		Clock: clock.RealClock{}}
	if e.URL == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal("SENTINEL_TEST_PROMETHEUS_URL is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test Prometheus: scripts/testenv.sh exec -- go test ...")
	}
	if e.Data == "" || e.Dir == "" {
		t.Fatal("SENTINEL_TEST_PROMETHEUS_DATA and SENTINEL_TEST_ENV_DIR must be set with SENTINEL_TEST_PROMETHEUS_URL")
	}
	if e.Promtool == "" {
		e.Promtool = "promtool"
	}
	c, err := api.NewClient(api.Config{Address: e.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.API = v1.NewAPI(c)
	return e
}

// Count is the number of samples of selector Prometheus holds in
// [first, last].
func (e Env) Count(ctx context.Context, selector string, first, last time.Time) (int, error) {
	q := fmt.Sprintf(`sum(count_over_time(%s[%s]))`, selector, model.Duration(last.Sub(first)+time.Millisecond))
	v, _, err := e.API.Query(ctx, q, last)
	if err != nil {
		return 0, err
	}
	if vec, ok := v.(model.Vector); ok && len(vec) == 1 {
		return int(vec[0].Value), nil
	}
	return 0, nil
}

// Backfill loads an OpenMetrics file into Prometheus with promtool and
// restarts Prometheus so it loads the blocks, unless the samples
// (selector, want of them in [first, last]) are there already; then it
// waits until they are queryable.
//
// Test binaries of several packages share one Prometheus and run at once,
// and a restart cuts every query in flight. So Backfill holds a lock on
// the environment's Prometheus until t ends: shared while t queries,
// exclusive while it backfills and restarts. A test calls Backfill once
// per t (a subtest's t for each recording): a second call under a t that
// holds the lock shared would wait on itself.
func (e Env) Backfill(t testing.TB, file, selector string, first, last time.Time, want int) {
	t.Helper()
	ctx := t.Context()
	lock, err := os.OpenFile(filepath.Join(e.Dir, "prometheus.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Close() }) // closing releases the lock
	flock(t, lock, syscall.LOCK_SH)
	if n, err := e.Count(ctx, selector, first, last); err == nil && n >= want {
		return
	}
	// Another test may be backfilling the same file; it holds the lock
	// exclusive until its samples are queryable, so count again after.
	flock(t, lock, syscall.LOCK_EX)
	if n, err := e.Count(ctx, selector, first, last); err == nil && n >= want {
		flock(t, lock, syscall.LOCK_SH)
		return
	}
	began := e.Clock.Now()
	out, err := exec.CommandContext(ctx, e.Promtool, "tsdb", "create-blocks-from", "openmetrics", file, e.Data).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics %s: %v\n%s", file, err, out)
	}
	out, err = exec.CommandContext(ctx, filepath.Join(RepoRoot(t), "scripts", "testenv.sh"), "restart-prometheus", e.Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv.sh restart-prometheus: %v\n%s", err, out)
	}
	deadline := e.Clock.Now().Add(3 * time.Minute) // a day of a fleet loads slowly on a busy machine
	for {
		n, err := e.Count(ctx, selector, first, last)
		if err == nil && n >= want {
			t.Logf("backfilled %s in %s: %d samples queryable", file, e.Clock.Since(began).Round(time.Millisecond), n)
			// Not atomic: another test may restart Prometheus in between,
			// but it holds the lock until Prometheus answers again, with
			// these blocks loaded too.
			flock(t, lock, syscall.LOCK_SH)
			return
		}
		if e.Clock.Now().After(deadline) {
			t.Fatalf("backfilled samples not queryable after 3m: have %d of %d (%v)", n, want, err)
		}
		e.Clock.Sleep(200 * time.Millisecond)
	}
}

// flock takes (or converts to) how on f, waiting for other holders.
func flock(t testing.TB, f *os.File, how int) {
	t.Helper()
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err == nil {
			return
		}
		if !errors.Is(err, syscall.EINTR) {
			t.Fatalf("lock %s: %v", f.Name(), err)
		}
	}
}

// RepoRoot is the directory holding go.mod, found upwards from the test's
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}
