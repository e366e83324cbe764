package expect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestViolations checks the checker itself, so a broken checker cannot
// pass every scenario.
func TestViolations(t *testing.T) {
	by := at(t, "2026-03-10T09:50:00Z")
	cart := workload.Ref{Namespace: "shop", Name: "cart"}
	page := incident.Action{Kind: incident.Page, Workload: cart, At: at(t, "2026-03-10T09:46:00Z")}
	late := page
	odd := incident.Action{Kind: incident.Page, Workload: workload.Ref{Namespace: "shop", Name: "car\nt"}, At: page.At}
	late.At = at(t, "2026-03-10T09:51:00Z")
	rb := incident.Action{Kind: incident.Rollback, Workload: cart, At: page.At,
		Plan: &rollback.Plan{ToImages: []history.Image{{Container: "cart", Image: "registry.example/cart:2.3.0"}}}}

	tests := []struct {
		name    string
		e       Expectation
		actions []incident.Action
		want    []string
	}{
		{"met", Expectation{Must: []Must{{Action: "page", Workload: "shop/cart", By: &by, Count: 1}}},
			[]incident.Action{page}, nil},
		{"missing", Expectation{Must: []Must{{Action: "page", Workload: "shop/cart"}}},
			nil, []string{"must[0]: page shop/cart: never happened"}},
		{"twice", Expectation{Must: []Must{{Action: "page", Workload: "shop/cart", Count: 1}}},
			[]incident.Action{page, page},
			[]string{"must[0]: page shop/cart: happened 2 times, want 1 (at 2026-03-10T09:46:00Z, 2026-03-10T09:46:00Z)"}},
		{"late", Expectation{Must: []Must{{Action: "page", Workload: "shop/cart", By: &by, Count: 1}}},
			[]incident.Action{late},
			[]string{"must[0]: page shop/cart: at 2026-03-10T09:51:00Z, after the deadline 2026-03-10T09:50:00Z"}},
		{"other workload", Expectation{Must: []Must{{Action: "page", Workload: "shop/web", Count: 1}}},
			[]incident.Action{page}, []string{"must[0]: page shop/web: happened 0 times, want 1"}},
		{"rollback target", Expectation{Must: []Must{{Action: "rollback", Workload: "shop/cart", Count: 1,
			ToImage: "registry.example/cart:2.3.0"}}}, []incident.Action{rb}, nil},
		{"wrong rollback target", Expectation{Must: []Must{{Action: "rollback", Workload: "shop/cart", Count: 1,
			ToImage: "registry.example/cart:2.2.0"}}}, []incident.Action{rb},
			[]string{"must[0]: rollback shop/cart to registry.example/cart:2.2.0: happened 0 times, want 1"}},
		{"never", Expectation{Never: []Never{{Action: "page", Workload: "shop/cart"}}},
			[]incident.Action{page}, []string{"never[0]: page shop/cart happened at 2026-03-10T09:46:00Z: " + page.Summary()}},
		{"never other kind", Expectation{Never: []Never{{Action: "rollback", Workload: "shop/cart"}}},
			[]incident.Action{page}, nil},
		{"a name with a newline matches as it is and prints escaped",
			Expectation{Must: []Must{{Action: "page", Workload: "shop/car\nt", Count: 1}}, Never: []Never{{Action: "page", Workload: "shop/car\nt"}}},
			[]incident.Action{odd}, []string{`never[0]: page shop/car\nt happened at 2026-03-10T09:46:00Z: ` + odd.Summary()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.e.Violations(tt.actions)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadFileRejects(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"unknown key", `{"must":[{"action":"page","workload":"a/b","deadline":"x"}]}`, `json: unknown field "deadline"`},
		{"unknown action", `{"must":[{"action":"email","workload":"a/b"}]}`, `must[0]: action "email": want one of [page rollback resolve notice]`},
		{"bad workload", `{"never":[{"action":"page","workload":"b"}]}`, `never[0]: workload "b": want namespace/name`},
		{"to_image on a page", `{"must":[{"action":"page","workload":"a/b","to_image":"x"}]}`, "must[0]: to_image applies to rollbacks only"},
		{"negative count", `{"must":[{"action":"page","workload":"a/b","count":-1}]}`, "must[0]: count -1: must not be negative"},
		{"bad deadline", `{"must":[{"action":"page","workload":"a/b","by":"soon"}]}`, `parsing time "soon" as "2006-01-02T15:04:05Z07:00": cannot parse "soon" as "2006"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), File)
			if err := os.WriteFile(p, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(p)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(p+": "+tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadFileExamples: every bundled expected.json reads.
func TestReadFileExamples(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", File))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples/*/%s: %v", File, err)
	}
	for _, p := range paths {
		e, err := ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(e.Must)+len(e.Never) == 0 || !strings.Contains(p, "examples") {
			t.Errorf("%s: no rules", p)
		}
	}
}
