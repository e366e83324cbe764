package record

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/replay/scenario"
)

// TestSelect keeps the objects of one workload up to a time and writes
// them so the replay reads them back unchanged.
func TestSelect(t *testing.T) {
	objs, err := scenario.ReadObjectsFile(filepath.Join("..", "..", "examples", "mli-6574", "objects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, namespace, workload string
		to                        time.Time
	}{
		{name: "everything", to: objs[len(objs)-1].At},
		{name: "one workload", namespace: "scale-deploy", workload: "model-engine", to: objs[len(objs)-1].At},
		{name: "before the outage", namespace: "scale-deploy", to: time.Date(2026, 4, 24, 23, 50, 0, 0, time.UTC)},
		{name: "another namespace", namespace: "nowhere", to: objs[len(objs)-1].At},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, o := range objs {
				if o.At.After(tt.to) {
					break
				}
				ns, name, owner := objectName(o)
				if (tt.namespace == "" || ns == tt.namespace) && (tt.workload == "" || owner == tt.workload) {
					want = append(want, o.At.Format(time.RFC3339)+" "+ns+"/"+name)
				}
			}
			b, err := Select(objs, tt.namespace, tt.workload, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			back, err := scenario.ReadObjects(bytes.NewReader(b), "selected")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range back {
				ns, name, _ := objectName(o)
				got = append(got, o.At.Format(time.RFC3339)+" "+ns+"/"+name)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("selected objects (-want +got):\n%s", diff)
			}
		})
	}
}

func objectName(o scenario.Object) (ns, name, owner string) {
	if o.Deployment != nil {
		return o.Deployment.Namespace, o.Deployment.Name, o.Deployment.Name
	}
	for _, ref := range o.ReplicaSet.OwnerReferences {
		owner = ref.Name
	}
	return o.ReplicaSet.Namespace, o.ReplicaSet.Name, owner
}

// TestWriteRefusesAScenario never overwrites a scenario directory.
func TestWriteRefusesAScenario(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metrics.om"), []byte("# EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Write(t.Context(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "already holds a scenario") {
		t.Errorf("Write into a scenario directory: %v, want an error saying it already holds a scenario", err)
	}
}
