package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/test/promenv"
)

// traceLines are the --trace lines of a text output.
func traceLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "  trace     ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestSimulateTraceUnknown: --trace naming no workload of the recording
// is an error before the replay, not a line of "no data" per poll.
func TestSimulateTraceUnknown(t *testing.T) {
	out, _, errText := sentinel(t, "simulate", "--trace", "shop/crat", example)
	want := "--trace shop/crat: no such workload in the recording (metrics.om and objects.yaml); did you mean shop/cart? " +
		"(its 2 workloads: shop/cart, shop/web)"
	if diff := cmp.Diff(want, errText); diff != "" || out != "" {
		t.Errorf("error (-want +got):\n%s\noutput:\n%s", diff, out)
	}
	// A workload the recording names: one line per poll, as before.
	out, _, errText = sentinel(t, "simulate", "--trace", "shop/web", example)
	if n := len(traceLines(out)); errText != "" || n != 241 {
		t.Errorf("--trace shop/web: %d trace lines, error %q; want 241", n, errText)
	}
}

// TestBacktestTrace: --trace of a workload neither the change history
// nor any answer has is one error after the backtest, with no trace line
// printed; one the answers have and the history does not is traced
// every poll.
func TestBacktestTrace(t *testing.T) {
	dir := filepath.Join(promenv.RepoRoot(t), "examples", "mli-6574")
	cfg, _ := fakeDatadog(t, dir)
	args := []string{"backtest", "--datadog", "--config", cfg, "--from", "2026-04-24T23:20:00Z", "--to", "2026-04-25T01:00:00Z"}

	out, _, errText := sentinel(t, append(args, "--objects", filepath.Join(dir, "objects.yaml"), "--trace", "scale-deploy/model-engien")...)
	want := "--trace scale-deploy/model-engien: no such workload in the backtest (its change history and the answers to " +
		"its 401 polls); did you mean scale-deploy/model-engine? (its 3 workloads: scale-deploy/batch-api, " +
		"scale-deploy/gateway, scale-deploy/model-engine)"
	if diff := cmp.Diff(want, errText); diff != "" || len(traceLines(out)) != 0 {
		t.Errorf("error (-want +got):\n%s\n%d trace lines", diff, len(traceLines(out)))
	}

	empty := write(t, t.TempDir(), "objects.yaml", "")
	out, _, errText = sentinel(t, append(args, "--objects", empty, "--trace", "scale-deploy/model-engine")...)
	if n := len(traceLines(out)); errText != "" || n != 401 {
		t.Errorf("%d trace lines, error %q; want one per poll, 401", n, errText)
	}
}

// TestReportUnwritable: a --report file that cannot be written fails
// before the replay; a replay that fails leaves no report it created,
// and an existing file as it was.
func TestReportUnwritable(t *testing.T) {
	tmp := t.TempDir()
	for _, path := range []string{filepath.Join(tmp, "no", "such", "dir", "r.html"), tmp} {
		out, _, errText := sentinel(t, "simulate", "--report", path, example)
		if !strings.HasPrefix(errText, "--report "+path+" cannot be written: open "+path+": ") || out != "" {
			t.Errorf("--report %s: error %q, output %q; want it cannot be written, before any output", path, errText, out)
		}
	}

	broken := scenarioCopy(t, map[string][]byte{"metrics.om": []byte("not openmetrics\n")})
	fresh := filepath.Join(tmp, "fresh.html")
	if _, _, errText := sentinel(t, "simulate", "--report", fresh, broken); errText == "" {
		t.Fatal("a broken recording replayed")
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("the failed replay left %s: %v", fresh, err)
	}
	old := write(t, tmp, "old.html", "the last report")
	if _, _, errText := sentinel(t, "simulate", "--report", old, broken); errText == "" {
		t.Fatal("a broken recording replayed")
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "the last report" {
		t.Errorf("the failed replay changed %s: %q, %v", old, b, err)
	}
	// A replay that succeeds writes it, over what was there.
	if _, _, errText := sentinel(t, "simulate", "--report", old, example); errText != "" {
		t.Fatal(errText)
	}
	if b, err := os.ReadFile(old); err != nil || !strings.HasPrefix(string(b), "<!DOCTYPE html>") || strings.Contains(string(b), "the last report") {
		t.Errorf("report not written over the old one: %.40q…, %v", b, err)
	}
}

// TestBacktestReportFirst: backtest's --report that cannot be written
// fails before the history is read or any query sent.
func TestBacktestReportFirst(t *testing.T) {
	dir := filepath.Join(promenv.RepoRoot(t), "examples", "mli-6574")
	cfg, fake := fakeDatadog(t, dir)
	bad := filepath.Join(t.TempDir(), "no", "r.html")
	_, _, errText := sentinel(t, "backtest", "--datadog", "--config", cfg, "--from", "2026-04-24T23:20:00Z", "--to", "2026-04-25T01:00:00Z",
		"--objects", filepath.Join(dir, "no-such-objects.yaml"), "--report", bad)
	if !strings.HasPrefix(errText, "--report "+bad+" cannot be written") || len(fake.Requests()) != 0 {
		t.Errorf("error %q after %d queries; want the report refused before the history or any query", errText, len(fake.Requests()))
	}
}
