package scenario

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// seen is an object as a test compares it: line, kind, name, time and
// whether it was deleted.
type seen struct {
	Line    int
	Kind    string
	Name    string
	At      string
	Deleted bool
}

func seenOf(objs []Object) []seen {
	var out []seen
	for _, o := range objs {
		k, n := describe(o)
		out = append(out, seen{o.Line, k, n, o.At.Format(time.RFC3339), o.Deleted})
	}
	return out
}

// toJSON is an obj as indented JSON, as kubectl -o json prints it.
func toJSON(t *testing.T, o obj) string {
	t.Helper()
	b, err := yaml.YAMLToJSON([]byte(o.String()))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// indent indents every line of s by n spaces.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+pad) + "\n"
}

func TestReadObjectsForms(t *testing.T) {
	dep := obj{managed: []string{"2026-03-10T09:45:00Z"}}
	rs := obj{kind: "ReplicaSet", name: "cart-1", managed: []string{"2026-03-09T16:00:00Z"}}
	rs2 := obj{kind: "ReplicaSet", name: "cart-2", managed: []string{"2026-03-10T09:45:00Z"}}
	for _, tc := range []struct {
		name string
		in   func(t *testing.T) string
		want []seen
	}{
		{"YAML List, items by time", func(*testing.T) string {
			return "apiVersion: v1\nkind: List\nitems:\n" + "- " + strings.TrimPrefix(indent(dep.String(), 2), "  ") +
				"- " + strings.TrimPrefix(indent(rs.String(), 2), "  ") + "metadata:\n  resourceVersion: \"\"\n"
		}, []seen{
			{21, "ReplicaSet", "shop/cart-1", "2026-03-09T16:00:00Z", false},
			{4, "Deployment", "shop/cart", "2026-03-10T09:45:00Z", false},
		}},
		{"JSON List", func(t *testing.T) string {
			return "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n" + indent(toJSON(t, rs2), 8) + ",\n" +
				indent(toJSON(t, rs), 8) + "    ],\n    \"kind\": \"List\"\n}\n"
		}, []seen{
			{34, "ReplicaSet", "shop/cart-1", "2026-03-09T16:00:00Z", false},
			{4, "ReplicaSet", "shop/cart-2", "2026-03-10T09:45:00Z", false},
		}},
		{"DeploymentList items without kind", func(*testing.T) string {
			d := strings.Replace(dep.String(), "apiVersion: apps/v1\nkind: Deployment\n", "", 1)
			return "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- " + strings.TrimPrefix(indent(d, 2), "  ")
		}, []seen{{4, "Deployment", "shop/cart", "2026-03-10T09:45:00Z", false}}},
		{"JSON stream", func(t *testing.T) string { return toJSON(t, rs) + "\n" + toJSON(t, dep) + "\n" }, []seen{
			{1, "ReplicaSet", "shop/cart-1", "2026-03-09T16:00:00Z", false},
			{30, "Deployment", "shop/cart", "2026-03-10T09:45:00Z", false},
		}},
		{"JSON watch events", func(t *testing.T) string {
			ev := func(typ string, o obj) string {
				return fmt.Sprintf("{\"type\":%q,\"object\":%s}\n", typ, strings.ReplaceAll(toJSON(t, o), "\n", ""))
			}
			return ev("ADDED", rs) + ev("ADDED", dep) + `{"type":"BOOKMARK","object":{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"resourceVersion":"12"}}}` +
				"\n" + ev("MODIFIED", rs2) + ev("DELETED", rs)
		}, []seen{
			{1, "ReplicaSet", "shop/cart-1", "2026-03-09T16:00:00Z", false},
			{2, "Deployment", "shop/cart", "2026-03-10T09:45:00Z", false},
			{4, "ReplicaSet", "shop/cart-2", "2026-03-10T09:45:00Z", false},
			{5, "ReplicaSet", "shop/cart-1", "2026-03-10T09:45:00Z", true},
		}},
		{"YAML watch events", func(*testing.T) string {
			return "object:\n" + indent(rs.String(), 2) + "type: ADDED\n---\nobject:\n" + indent(rs.String(), 2) + "type: DELETED\n"
		}, []seen{
			{1, "ReplicaSet", "shop/cart-1", "2026-03-09T16:00:00Z", false},
			{21, "ReplicaSet", "shop/cart-1", "2026-03-09T16:00:00Z", true},
		}},
		{"two watches concatenated, by resourceVersion", func(*testing.T) string {
			ev := func(typ string, o obj, rv string) string {
				o.extra = "  resourceVersion: '" + rv + "'\n"
				return "type: " + typ + "\nobject:\n" + indent(o.String(), 2) + "---\n"
			}
			dep2 := dep
			dep2.managed = []string{"2026-03-10T10:00:00Z"}
			// The Deployments' watch, then the ReplicaSets'.
			return ev("ADDED", dep, "10") + ev("MODIFIED", dep2, "40") + ev("ADDED", rs, "5") + ev("ADDED", rs2, "12") + ev("DELETED", rs, "41")
		}, []seen{
			{43, "ReplicaSet", "shop/cart-1", "2026-03-09T16:00:00Z", false},
			{1, "Deployment", "shop/cart", "2026-03-10T09:45:00Z", false},
			{64, "ReplicaSet", "shop/cart-2", "2026-03-10T09:45:00Z", false},
			{22, "Deployment", "shop/cart", "2026-03-10T10:00:00Z", false},
			{85, "ReplicaSet", "shop/cart-1", "2026-03-10T10:00:00Z", true},
		}},
		{"deletionTimestamp is the time of a deletion", func(*testing.T) string {
			d := rs
			d.extra = "  deletionTimestamp: '2026-03-11T00:00:00Z'\n"
			return "object:\n" + indent(d.String(), 2) + "type: DELETED\n"
		}, []seen{{1, "ReplicaSet", "shop/cart-1", "2026-03-11T00:00:00Z", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in(t)
			objs, err := ReadObjects(strings.NewReader(in), "objects.yaml")
			if err != nil {
				t.Fatalf("ReadObjects:\n%s\nerror: %v", in, err)
			}
			if diff := cmp.Diff(tc.want, seenOf(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s\ninput:\n%s", diff, in)
			}
		})
	}
}

func TestReadObjectsFormErrors(t *testing.T) {
	rs := obj{kind: "ReplicaSet", name: "cart-1"}
	for _, tc := range []struct{ name, in, want string }{
		{"watch ERROR", "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"message\":\"too old resource version: 1 (5)\"}}\n",
			`objects.yaml:1: watch ERROR event: "too old resource version: 1 (5)": the watch broke here; record again`},
		{"unknown event type", "type: RENAMED\nobject:\n" + indent(rs.String(), 2),
			`objects.yaml:1: watch event type "RENAMED": want ADDED, MODIFIED, DELETED, BOOKMARK or ERROR`},
		{"event without object", "type: ADDED\n", "objects.yaml:1: watch event ADDED without an object"},
		{"List item of another kind", "apiVersion: v1\nkind: List\nitems:\n- " + strings.TrimPrefix(indent(rs.String(), 2), "  ") +
			"- apiVersion: v1\n  kind: Pod\n", `objects.yaml:17: items[1]: apiVersion "v1": want apps/v1`},
		{"broken JSON stream", "{\"apiVersion\": \"apps/v1\",\n\"kind\": \"Deployment\",\n\"metadata\": {]\n",
			"objects.yaml:3: invalid JSON: invalid character ']' looking for beginning of object key string"},
		{"a document after ...", rs.String() + "...\n" + rs.String(),
			`objects.yaml:14: a document follows the end marker "...": separate documents with "---"`},
		{"separator with content", rs.String() + "--- {a: 1}\n", "objects.yaml:1: invalid YAML: invalid Yaml document separator: {a: 1}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadObjects(strings.NewReader(tc.in), "objects.yaml")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMissingManagedFields(t *testing.T) {
	objs, err := ReadObjects(strings.NewReader(stream(obj{managed: []string{"2026-03-10T09:45:00Z"}}, "---\n",
		obj{kind: "ReplicaSet", name: "cart-1"}, "---\n", obj{name: "web"})), "objects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := "objects.yaml:33: 1 of 2 Deployment observations (the first: shop/web) have no managedFields, so who made " +
		"a change is unknown and no change is rolled back; record with kubectl get --show-managed-fields"
	if diff := cmp.Diff(want, MissingManagedFields("objects.yaml", objs)); diff != "" {
		t.Errorf("warning (-want +got):\n%s", diff)
	}
	if w := MissingManagedFields("objects.yaml", objs[:1]); w != "" {
		t.Errorf("warning for objects with managedFields: %s", w)
	}
}
