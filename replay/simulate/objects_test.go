package simulate_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/simulate"
)

// TestReplayDeletedReplicaSet: a watch's DELETED event forgets the
// object as the watcher does. With cart's healthy revision deleted
// before the incident, the replay pages without a rollback target;
// without the deletion it rolls back to it.
func TestReplayDeletedReplicaSet(t *testing.T) {
	src := filepath.Join("..", "..", "examples", "kubectl-set-image")
	objects, err := os.ReadFile(filepath.Join(src, simulate.ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	// The healthy revision's ReplicaSet, deleted at 09:45:10 (after the
	// controller scaled it down, before the page), as
	// kubectl get -w --output-watch-events -o yaml prints it.
	start := strings.Index(string(objects), "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  annotations:\n    deployment.kubernetes.io/desired-replicas: '2'\n    deployment.kubernetes.io/max-replicas: '3'\n    deployment.kubernetes.io/revision: '1'\n    meta.helm.sh/release-name: cart")
	if start < 0 {
		t.Fatal("cart's first ReplicaSet not found in the example")
	}
	rs := string(objects[start:])
	rs = rs[:strings.Index(rs, "\n---\n")+1]
	rs = strings.Replace(rs, "  creationTimestamp: '2026-03-09T16:00:00Z'\n",
		"  creationTimestamp: '2026-03-09T16:00:00Z'\n  deletionTimestamp: '2026-03-10T09:45:10Z'\n", 1)
	event := "type: DELETED\nobject:\n  " + strings.ReplaceAll(strings.TrimSuffix(rs, "\n"), "\n", "\n  ") + "\n"
	// Insert the event before the last document, the Deployment at
	// 09:45:20.
	doc := strings.LastIndex(string(objects), "\n---\n") + 5

	for _, tc := range []struct {
		name    string
		objects string
		want    []string
	}{
		{"kept", string(objects), []string{"page shop/cart rollback=true", "rollback shop/cart rollback=true"}},
		{"deleted", string(objects[:doc]) + event + "---\n" + string(objects[doc:]), []string{"page shop/cart rollback=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, simulate.ObjectsFile), []byte(tc.objects), 0o644); err != nil {
				t.Fatal(err)
			}
			abs, err := filepath.Abs(filepath.Join(src, simulate.MetricsFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(abs, filepath.Join(dir, simulate.MetricsFile)); err != nil {
				t.Fatal(err)
			}
			var c notify.Collect
			if _, err := simulate.Run(t.Context(), dir, config.Default(), &c); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, kinds(c.Actions)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

func kinds(actions []incident.Action) []string {
	var out []string
	for _, a := range actions {
		out = append(out, a.Kind.String()+" "+a.Workload.String()+" rollback="+strconv.FormatBool(a.Decision.Rollback()))
	}
	return out
}

// TestReplayWithoutObjects: an objects.yaml holding no Deployment or
// ReplicaSet (empty, comments only, an empty List) still replays the
// metrics, with a warning saying what the file is and what a replay
// then cannot do; before, nothing said why no page named a cause.
func TestReplayWithoutObjects(t *testing.T) {
	const cannot = ": a replay reads the Deployments and ReplicaSets observed (kubectl get deploy,rs -o yaml " +
		"--show-managed-fields; docs/scenarios.md) to tell what changed and who changed it; without them no page " +
		"names a cause and nothing is rolled back"
	abs, err := filepath.Abs(filepath.Join("..", "..", "examples", "kubectl-set-image", simulate.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, objects, want string }{
		{"empty", "", " is empty (0 bytes)"},
		{"comments only", "# kubectl printed nothing\n---\n", " holds no Deployment or ReplicaSet"},
		{"an empty List", "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n", " holds no Deployment or ReplicaSet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, simulate.ObjectsFile)
			if err := os.WriteFile(path, []byte(tc.objects), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(abs, filepath.Join(dir, simulate.MetricsFile)); err != nil {
				t.Fatal(err)
			}
			var c notify.Collect
			res, err := simulate.Run(t.Context(), dir, config.Default(), &c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{path + tc.want + cannot}, res.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"page shop/cart rollback=false"}, kinds(c.Actions)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}
