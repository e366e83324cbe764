package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/test/promenv"
)

// TestBacktestProgress: the progress bar is drawn on a terminal only,
// or when --progress asks; a pipe or file gets none.
func TestBacktestProgress(t *testing.T) {
	dir := filepath.Join(promenv.RepoRoot(t), "examples", "mli-6574")
	cfg, _ := fakeDatadog(t, dir)
	args := []string{"backtest", "--datadog", "--config", cfg, "--from", "2026-04-24T23:20:00Z", "--to", "2026-04-25T01:00:00Z",
		"--objects", filepath.Join(dir, "objects.yaml")}
	for _, tc := range []struct {
		name string
		flag []string
		bar  bool
	}{
		{"a pipe", nil, false},
		{"a pipe, asked", []string{"--progress"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, errText := sentinel(t, append(args, tc.flag...)...)
			if errText != "" {
				t.Fatal(errText)
			}
			if bar := strings.Contains(stderr, "\rpolls ") && strings.Contains(stderr, "/401)"); bar != tc.bar {
				t.Errorf("progress bar drawn: %t, want %t; stderr:\n%q", bar, tc.bar, stderr)
			}
			if !strings.HasPrefix(stderr, "sentinel: backtest query: ") {
				t.Errorf("stderr:\n%q", stderr)
			}
		})
	}
}

// TestBacktestMaxPolls: a range of more than --max-polls polls (by
// default 1,000,000) is refused before anything is read or asked,
// saying how many it would take; --max-polls raises the bound.
func TestBacktestMaxPolls(t *testing.T) {
	from := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	// A million polls 15 s apart end here.
	last := from.Add(999_999 * 15 * time.Second)
	missing := filepath.Join(t.TempDir(), "objects.yaml") // read only once the range is accepted
	run := func(to time.Time, flags ...string) string {
		args := append([]string{"backtest", "--prometheus", "http://127.0.0.1:1", "--from", from.Format(time.RFC3339),
			"--to", to.Format(time.RFC3339), "--objects", missing}, flags...)
		_, _, errText := sentinel(t, args...)
		return errText
	}
	accepted := "read objects: open " + missing + ": no such file or directory"
	if got := run(last); got != accepted {
		t.Errorf("1,000,000 polls: %q, want the range accepted (%q)", got, accepted)
	}
	want := "--from 2020-01-01T00:00:00Z to --to 2020-06-22T14:40:00Z is 1,000,001 polls (one every 15s, detection.poll_interval), " +
		"more than --max-polls 1,000,000: narrow the range, or give --max-polls 1000001 to run them all"
	if diff := cmp.Diff(want, run(last.Add(15*time.Second))); diff != "" {
		t.Errorf("1,000,001 polls (-want +got):\n%s", diff)
	}
	if got := run(last.Add(15*time.Second), "--max-polls", "1000001"); got != accepted {
		t.Errorf("1,000,001 polls with --max-polls 1000001: %q, want the range accepted", got)
	}
	if got := run(from.Add(10*365*24*time.Hour), "--max-polls", "0"); got != accepted {
		t.Errorf("ten years with --max-polls 0: %q, want the range accepted", got)
	}
	if got := run(from.Add(time.Hour), "--max-polls", "240"); !strings.Contains(got, "is 241 polls") {
		t.Errorf("241 polls with --max-polls 240: %q, want them refused", got)
	}
}
