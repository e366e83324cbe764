package simulate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/simulate"
)

// ExpectedFile is what a correct sentinel does with a scenario under the
// default configuration (shared/scenarios/README.md).
const ExpectedFile = "expected.json"

// expectation is the content of an expected.json.
type expectation struct {
	// Onset is when the scenario's failure began; informative.
	Onset time.Time `json:"onset"`
	Must  []must    `json:"must"`
	Never []never   `json:"never"`
}

// must is an action that has to happen: Count times exactly (at least
// once when Count is 0), each at or before By when given, and for a
// rollback, to a set of images that includes ToImage when given.
type must struct {
	Action   string     `json:"action"`
	Workload string     `json:"workload"`
	By       *time.Time `json:"by"`
	Count    int        `json:"count"`
	ToImage  string     `json:"to_image"`
}

// never is an action that must not happen at all.
type never struct {
	Action   string `json:"action"`
	Workload string `json:"workload"`
}

func readExpectation(path string) (expectation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return expectation{}, fmt.Errorf("read expectation: %w", err)
	}
	var e expectation
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt rule must not pass silently
	if err := dec.Decode(&e); err != nil {
		return expectation{}, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	// The documented actions (incident.Kind.Action).
	kinds := []string{"page", "rollback", "resolve", "notice"}
	check := func(where string, k string, w string) {
		if !slices.Contains(kinds, k) {
			errs = append(errs, fmt.Errorf("%s: action %q: want one of %v", where, k, kinds))
		}
		if ns, name, ok := strings.Cut(w, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			errs = append(errs, fmt.Errorf("%s: workload %q: want namespace/name", where, w))
		}
	}
	for i, m := range e.Must {
		where := fmt.Sprintf("must[%d]", i)
		check(where, m.Action, m.Workload)
		if m.Count < 0 {
			errs = append(errs, fmt.Errorf("%s: count %d: must not be negative", where, m.Count))
		}
		if m.ToImage != "" && m.Action != incident.Rollback.Action() {
			errs = append(errs, fmt.Errorf("%s: to_image applies to rollbacks only", where))
		}
	}
	for i, n := range e.Never {
		check(fmt.Sprintf("never[%d]", i), n.Action, n.Workload)
	}
	if err := errors.Join(errs...); err != nil {
		return expectation{}, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// violations lists every way actions break e, one line each.
func violations(e expectation, actions []incident.Action) []string {
	var out []string
	for i, m := range e.Must {
		var matched []incident.Action
		for _, a := range actions {
			if a.Kind.Action() != m.Action || a.Workload.String() != m.Workload {
				continue
			}
			if m.ToImage != "" && !rollsBackTo(a, m.ToImage) {
				continue
			}
			matched = append(matched, a)
		}
		what := fmt.Sprintf("must[%d]: %s %s", i, m.Action, m.Workload)
		if m.ToImage != "" {
			what += " to " + m.ToImage
		}
		switch {
		case m.Count == 0 && len(matched) == 0:
			out = append(out, fmt.Sprintf("%s: never happened", what))
		case m.Count > 0 && len(matched) != m.Count:
			out = append(out, fmt.Sprintf("%s: happened %d times, want %d%s", what, len(matched), m.Count, timesOf(matched)))
		}
		if m.By != nil {
			for _, a := range matched {
				if a.At.After(*m.By) {
					out = append(out, fmt.Sprintf("%s: at %s, after the deadline %s", what,
						a.At.UTC().Format(time.RFC3339), m.By.UTC().Format(time.RFC3339)))
				}
			}
		}
	}
	for i, n := range e.Never {
		for _, a := range actions {
			if a.Kind.Action() == n.Action && a.Workload.String() == n.Workload {
				out = append(out, fmt.Sprintf("never[%d]: %s %s happened at %s: %s", i, n.Action, n.Workload,
					a.At.UTC().Format(time.RFC3339), a.Summary()))
			}
		}
	}
	return out
}

func rollsBackTo(a incident.Action, image string) bool {
	if a.Plan == nil {
		return false
	}
	return slices.ContainsFunc(a.Plan.ToImages, func(i history.Image) bool { return i.Image == image })
}

func timesOf(actions []incident.Action) string {
	if len(actions) == 0 {
		return ""
	}
	ts := make([]string, len(actions))
	for i, a := range actions {
		ts[i] = a.At.UTC().Format(time.RFC3339)
	}
	return " (at " + strings.Join(ts, ", ") + ")"
}

// replay runs a scenario directory with the default configuration and
// returns every action.
func replay(t testing.TB, dir string) ([]incident.Action, simulate.Result) {
	t.Helper()
	var c simulate.Collect
	res, err := simulate.Run(context.Background(), dir, config.Default(), &c)
	if err != nil {
		t.Fatalf("replay %s: %v", dir, err)
	}
	return c.Actions, res
}

// checkScenarios replays every directory under root holding an
// expected.json and checks the actions against it.
func checkScenarios(t *testing.T, root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range entries {
		dir := filepath.Join(root, ent.Name())
		if !ent.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, ExpectedFile)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		n++
		t.Run(ent.Name(), func(t *testing.T) {
			t.Parallel()
			e, err := readExpectation(filepath.Join(dir, ExpectedFile))
			if err != nil {
				t.Fatal(err)
			}
			actions, _ := replay(t, dir)
			for _, v := range violations(e, actions) {
				t.Error(v)
			}
			if t.Failed() {
				for _, a := range actions {
					t.Logf("action: %s %s %s", a.At.UTC().Format(time.RFC3339), a.Kind, a.Summary())
				}
			}
		})
	}
	if n == 0 {
		t.Fatalf("no scenario with an %s under %s", ExpectedFile, root)
	}
}

// TestSharedScenarios replays the shared scenario corpus, which CI lays
// beside the repository.
func TestSharedScenarios(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "scenarios")
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s not found: the shared scenarios are laid beside the repository in CI; the bundled copies in examples/ still run", root)
	}
	checkScenarios(t, root)
}

// TestExampleScenarios replays the scenarios bundled with sentinel, so the
// check runs without the shared corpus.
func TestExampleScenarios(t *testing.T) {
	checkScenarios(t, filepath.Join("..", "examples"))
}

// TestViolations checks the checker itself, so a broken checker cannot
// pass every scenario.
func TestViolations(t *testing.T) {
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	by := at("2026-03-10T09:50:00Z")
	cart := detector.Workload{Namespace: "shop", Name: "cart"}
	page := incident.Action{Kind: incident.Page, Workload: cart, At: at("2026-03-10T09:46:00Z")}
	late := page
	late.At = at("2026-03-10T09:51:00Z")
	rb := incident.Action{Kind: incident.Rollback, Workload: cart, At: page.At,
		Plan: &rollback.Plan{ToImages: []history.Image{{Container: "cart", Image: "registry.example/cart:2.3.0"}}}}

	tests := []struct {
		name    string
		e       expectation
		actions []incident.Action
		want    []string // substrings, one per violation
	}{
		{"met", expectation{Must: []must{{Action: "page", Workload: "shop/cart", By: &by, Count: 1}}},
			[]incident.Action{page}, nil},
		{"missing", expectation{Must: []must{{Action: "page", Workload: "shop/cart"}}},
			nil, []string{"never happened"}},
		{"twice", expectation{Must: []must{{Action: "page", Workload: "shop/cart", Count: 1}}},
			[]incident.Action{page, page}, []string{"happened 2 times, want 1"}},
		{"late", expectation{Must: []must{{Action: "page", Workload: "shop/cart", By: &by, Count: 1}}},
			[]incident.Action{late}, []string{"after the deadline"}},
		{"other workload", expectation{Must: []must{{Action: "page", Workload: "shop/web", Count: 1}}},
			[]incident.Action{page}, []string{"happened 0 times"}},
		{"rollback target", expectation{Must: []must{{Action: "rollback", Workload: "shop/cart", Count: 1,
			ToImage: "registry.example/cart:2.3.0"}}}, []incident.Action{rb}, nil},
		{"wrong rollback target", expectation{Must: []must{{Action: "rollback", Workload: "shop/cart", Count: 1,
			ToImage: "registry.example/cart:2.2.0"}}}, []incident.Action{rb}, []string{"happened 0 times"}},
		{"never", expectation{Never: []never{{Action: "page", Workload: "shop/cart"}}},
			[]incident.Action{page}, []string{"never[0]: page shop/cart happened"}},
		{"never other kind", expectation{Never: []never{{Action: "rollback", Workload: "shop/cart"}}},
			[]incident.Action{page}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(tt.e, tt.actions)
			if len(got) != len(tt.want) {
				t.Fatalf("violations %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("violation %q, want it to contain %q", got[i], w)
				}
			}
		})
	}
}

func TestReadExpectationRejects(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"unknown key", `{"must":[{"action":"page","workload":"a/b","deadline":"x"}]}`, "unknown field"},
		{"unknown action", `{"must":[{"action":"email","workload":"a/b"}]}`, `action "email"`},
		{"bad workload", `{"never":[{"action":"page","workload":"b"}]}`, "want namespace/name"},
		{"to_image on a page", `{"must":[{"action":"page","workload":"a/b","to_image":"x"}]}`, "rollbacks only"},
		{"bad deadline", `{"must":[{"action":"page","workload":"a/b","by":"soon"}]}`, "cannot parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), ExpectedFile)
			if err := os.WriteFile(p, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readExpectation(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("readExpectation: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
