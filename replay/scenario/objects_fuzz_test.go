package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzReadObjects: any input is either read or rejected with an error
// naming file:line, never a panic; every object read is one usable
// Deployment or ReplicaSet at a line of the input, with time never going
// back (a List's items are ordered by time, not by line).
func FuzzReadObjects(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzReadObjects.
	f.Add([]byte(stream(obj{managed: []string{"2026-03-10T09:45:00Z"}}, "---\n", obj{kind: "ReplicaSet", name: "cart-1"})))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := ReadObjects(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			if objs != nil {
				t.Fatalf("objects returned with error %v", err)
			}
			checkErrLine(t, err, data, true)
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for i, o := range objs {
			kind, name := describe(o)
			if kind == "invalid" {
				t.Fatalf("object %d at line %d is not exactly one of Deployment, ReplicaSet", i, o.Line)
			}
			var meta *metav1.ObjectMeta
			if o.ReplicaSet != nil {
				meta = &o.ReplicaSet.ObjectMeta
			}
			if o.Deployment != nil {
				meta = &o.Deployment.ObjectMeta
				if len(o.Deployment.Spec.Template.Spec.Containers) == 0 {
					t.Fatalf("%s %s without containers at line %d", kind, name, o.Line)
				}
			}
			if meta.Name == "" || meta.Namespace == "" {
				t.Fatalf("%s %q without name or namespace at line %d", kind, name, o.Line)
			}
			if o.At.IsZero() {
				t.Fatalf("%s %s at line %d has no observation time", kind, name, o.Line)
			}
			if o.Line < 1 || o.Line > lines {
				t.Fatalf("%s %s at line %d of a %d-line input", kind, name, o.Line, lines)
			}
			if i > 0 {
				p := objs[i-1]
				if o.At.Before(p.At) {
					t.Fatalf("time goes backwards: line %d at %s, line %d at %s", p.Line, p.At, o.Line, o.At)
				}
			}
		}
	})
}

func fuzzSeeds(name string) ([]string, error) {
	dir := filepath.Join("testdata", "fuzz", name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}
