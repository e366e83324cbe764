package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/test/promenv"
)

// scenarioCopy copies the example into a new directory, with the files
// given replaced.
func scenarioCopy(t *testing.T, replace map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"metrics.om", "objects.yaml"} {
		b, ok := replace[name]
		if !ok {
			var err error
			if b, err = os.ReadFile(filepath.Join(example, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSimulateInputFiles: what a stranger gives simulate instead of the
// files it reads, and what it says.
func TestSimulateInputFiles(t *testing.T) {
	metrics, err := os.ReadFile(filepath.Join(example, "metrics.om"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(metrics)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("CRLF metrics.om reads as LF", func(t *testing.T) {
		dir := scenarioCopy(t, map[string][]byte{"metrics.om": bytes.ReplaceAll(metrics, []byte("\n"), []byte("\r\n"))})
		for _, o := range []string{"text", "json", "pagerduty"} {
			want, wantErr, _ := sentinel(t, "simulate", "-o", o, example)
			got, gotErr, errText := sentinel(t, "simulate", "-o", o, dir)
			if errText != "" {
				t.Fatalf("-o %s: %s", o, errText)
			}
			if diff := cmp.Diff(want, got); diff != "" || gotErr != wantErr {
				t.Errorf("-o %s: output (-LF +CRLF):\n%s\nstderr %q, want %q", o, diff, gotErr, wantErr)
			}
		}
	})
	t.Run("gzip metrics.om", func(t *testing.T) {
		dir := scenarioCopy(t, map[string][]byte{"metrics.om": gz.Bytes()})
		_, _, errText := sentinel(t, "simulate", dir)
		want := filepath.Join(dir, "metrics.om") + ": gzip-compressed; sentinel reads OpenMetrics text: gunzip it first"
		if errText != want {
			t.Errorf("error %q, want %q", errText, want)
		}
	})
	t.Run("empty metrics.om", func(t *testing.T) {
		dir := scenarioCopy(t, map[string][]byte{"metrics.om": nil})
		_, _, errText := sentinel(t, "simulate", dir)
		want := filepath.Join(dir, "metrics.om") + `: empty (0 bytes); sentinel reads OpenMetrics text: samples of ` +
			`istio_requests_total{reporter="destination"} with timestamps, ending in a "# EOF" line (docs/scenarios.md)`
		if errText != want {
			t.Errorf("error %q, want %q", errText, want)
		}
	})
	t.Run("empty objects.yaml", func(t *testing.T) {
		dir := scenarioCopy(t, map[string][]byte{"objects.yaml": nil})
		out, stderr, errText := sentinel(t, "simulate", dir)
		if errText != "" {
			t.Fatal(errText)
		}
		want := "sentinel: warning: " + filepath.Join(dir, "objects.yaml") + " is empty (0 bytes): a replay reads the " +
			"Deployments and ReplicaSets observed (kubectl get deploy,rs -o yaml --show-managed-fields; docs/scenarios.md) " +
			"to tell what changed and who changed it; without them no page names a cause and nothing is rolled back\n"
		if diff := cmp.Diff(want, stderr); diff != "" {
			t.Errorf("stderr (-want +got):\n%s", diff)
		}
		if !strings.Contains(out, "0 objects; 1 page, 0 rollbacks") {
			t.Errorf("summary:\n%s", out)
		}
	})
}

// TestBacktestEmptyHistory: a backtest whose --objects file holds no
// object says so, and still judges the metrics.
func TestBacktestEmptyHistory(t *testing.T) {
	dir := filepath.Join(promenv.RepoRoot(t), "examples", "mli-6574")
	cfg, _ := fakeDatadog(t, dir)
	tmp := t.TempDir()
	const cannot = ": a replay reads the Deployments and ReplicaSets observed (kubectl get deploy,rs -o yaml " +
		"--show-managed-fields; docs/scenarios.md) to tell what changed and who changed it; without them no page " +
		"names a cause and nothing is rolled back\n"
	for _, tc := range []struct{ name, objects, want string }{
		{"empty", "", " is empty (0 bytes)"},
		{"comments only", "# nothing\n", " holds no Deployment or ReplicaSet observed by --to 2026-04-25T01:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objects := write(t, tmp, "objects.yaml", tc.objects)
			out, stderr, errText := sentinel(t, "backtest", "--datadog", "--config", cfg, "--from", "2026-04-24T23:20:00Z",
				"--to", "2026-04-25T01:00:00Z", "--objects", objects)
			if errText != "" {
				t.Fatal(errText)
			}
			want := "sentinel: warning: --objects " + objects + tc.want + cannot
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks\n%s\n%s", want, stderr)
			}
			if !strings.Contains(out, "1 page, 0 rollbacks") {
				t.Errorf("summary:\n%s", out)
			}
		})
	}
}
