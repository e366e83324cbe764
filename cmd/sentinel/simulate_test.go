package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const example = "../../examples/kubectl-set-image"

// sentinel runs the CLI with args and returns stdout, stderr and the
// error main would print.
func sentinel(t *testing.T, args ...string) (stdout, stderr, errText string) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	if err := root.ExecuteContext(t.Context()); err != nil {
		errText = err.Error()
	}
	return out.String(), errOut.String(), errText
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSimulateArguments(t *testing.T) {
	empty := t.TempDir()
	write(t, empty, "metrics.om", "# EOF\n")
	for _, tc := range []struct {
		name string
		args []string
		// want is the error's first line.
		want string
	}{
		{"no directory", []string{"simulate"},
			"simulate takes one scenario directory (holding metrics.om and objects.yaml), got 0 arguments"},
		{"two directories", []string{"simulate", example, example},
			"simulate takes one scenario directory (holding metrics.om and objects.yaml), got 2 arguments"},
		{"a file of the scenario", []string{"simulate", example + "/metrics.om"},
			example + "/metrics.om is a file, not a scenario directory: give its directory (sentinel simulate " + example +
				"); a scenario directory holds metrics.om, objects.yaml and optionally config.yaml (docs/scenarios.md)"},
		{"no such directory", []string{"simulate", filepath.Join(empty, "nope")},
			"scenario directory " + filepath.Join(empty, "nope") + " does not exist: a scenario directory holds metrics.om, objects.yaml and optionally config.yaml (docs/scenarios.md)"},
		{"no objects.yaml", []string{"simulate", empty},
			"scenario directory " + empty + " has no objects.yaml: a scenario directory holds metrics.om, objects.yaml and optionally config.yaml (docs/scenarios.md)"},
		{"bad output", []string{"simulate", "-o", "xml", example}, `-o "xml": want text, json or pagerduty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, got := sentinel(t, tc.args...)
			first, rest, _ := strings.Cut(got, "\n")
			if diff := cmp.Diff(tc.want, first); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.HasPrefix(tc.name, "no directory") && !strings.Contains(rest, "Usage:\n  sentinel simulate [--config FILE]") {
				t.Errorf("no usage after the error:\n%s", rest)
			}
		})
	}
}

func TestSimulateSummary(t *testing.T) {
	dir := t.TempDir()
	cfg := write(t, dir, "config.yaml", "detection:\n  threshold: 0.5\n")
	for _, tc := range []struct {
		name string
		args []string
		want string // the summary's last lines
	}{
		{"defaults", []string{"simulate", example},
			"replayed 2026-03-10T09:30:00Z to 2026-03-10T10:30:00Z: 241 polls, 3593 samples, 10 objects; 1 page, 1 rollback, 0 resolves\n" +
				"configuration: built-in defaults\n"},
		{"a file", []string{"simulate", "--config", cfg, example},
			"replayed 2026-03-10T09:30:00Z to 2026-03-10T10:30:00Z: 241 polls, 3593 samples, 10 objects; 1 page, 1 rollback, 0 resolves\n" +
				"configuration: " + cfg + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, errText := sentinel(t, tc.args...)
			if errText != "" {
				t.Fatal(errText)
			}
			_, got, _ := strings.Cut(out, "\n\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
	_, stderr, _ := sentinel(t, "simulate", "-o", "json", example)
	if diff := cmp.Diff("sentinel: configuration: built-in defaults\n", stderr); diff != "" {
		t.Errorf("-o json stderr (-want +got):\n%s", diff)
	}
}

func TestSimulateExpect(t *testing.T) {
	dir := t.TempDir()
	wrong := write(t, dir, "expected.json", `{"must": [{"action": "page", "workload": "shop/web"}],
 "never": [{"action": "rollback", "workload": "shop/cart"}]}`)
	for _, tc := range []struct {
		name, file string
		err        string
		stderr     []string // lines stderr must hold
	}{
		{"met", example + "/expected.json", "", []string{"sentinel: the actions meet " + example + "/expected.json"}},
		{"differs", wrong, "2 differences from " + wrong, []string{
			"the actions differ from " + wrong + ":",
			"  - must[0]: page shop/web: never happened",
			"  - never[0]: rollback shop/cart happened at 2026-03-10T09:46:15Z: shop/cart: rolled back from revision 2 (cart:2.4.0-rc1) to revision 1 (cart:2.3.0)",
			"the replay's actions (2):",
		}},
		{"unreadable", filepath.Join(dir, "none.json"), "read expectation: open " + filepath.Join(dir, "none.json") + ": no such file or directory", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, errText := sentinel(t, "simulate", "--expect", tc.file, example)
			if diff := cmp.Diff(tc.err, errText); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			lines := strings.Split(stderr, "\n")
			for _, w := range tc.stderr {
				if !contains(lines, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func contains(lines []string, w string) bool {
	for _, l := range lines {
		if l == w {
			return true
		}
	}
	return false
}

func TestCheckConfigKeyPath(t *testing.T) {
	p := write(t, t.TempDir(), "config.yaml", "detection:\n  poll_interval: 15\n")
	_, stderr, errText := sentinel(t, "check-config", p)
	want := p + ": detection.poll_interval: want a duration such as 15s, 5m or 1h30m, got !!int `15` (line 2)\n"
	if diff := cmp.Diff(want, stderr); diff != "" || errText != "configuration is invalid" {
		t.Errorf("stderr (-want +got):\n%s\nerror %q", diff, errText)
	}
}

// check-config refuses what run would refuse at start, a query that does
// not render or parse included, and run refuses it before anything else.
func TestCheckConfigAgreesWithRun(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"query", "metrics:\n  prometheus:\n    query: 'sum by ('\n",
			`metrics.prometheus.query: rendered as "sum by (": 1:9: parse error: unclosed left parenthesis`},
		{"failure codes", "detection:\n  failure_codes: 5xx\n",
			`detection.failure_codes: "5xx" matches no status code from 100 to 599, so no server error would count as a failure ` +
				`and an outage would never page; did you mean "5.." (a regular expression matched against the whole code)?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "config.yaml", tc.doc)
			_, stderr, errText := sentinel(t, "check-config", p)
			if stderr != p+": "+tc.want+"\n" || errText != "configuration is invalid" {
				t.Errorf("check-config: stderr %q, error %q; want %q", stderr, errText, p+": "+tc.want)
			}
			_, stderr, errText = sentinel(t, "run", "--config", p)
			if stderr != p+": "+tc.want+"\n" || errText != "refusing to start with an invalid configuration" {
				t.Errorf("run: stderr %q, error %q; want %q", stderr, errText, p+": "+tc.want)
			}
		})
	}
}
