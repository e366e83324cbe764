package scenario_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/workload"
)

var update = flag.Bool("update", false, "rewrite testdata/kubectl and its fuzz seeds from a fresh capture (needs the test cluster)")

// The history a capture holds: web is created with 1.0, set to 2.0 and
// to 3.0 with kubectl set image, and the 2.0 ReplicaSet is deleted.
const (
	imageBase = "registry.example/web:"
	captured  = "testdata/kubectl"
)

// captures are the forms of kubectl output captured, by file.
var captures = []struct{ file, form string }{
	{"get-yaml.yaml", "kubectl get deploy,rs -o yaml --show-managed-fields"},
	{"get-json.json", "kubectl get deploy,rs -o json --show-managed-fields"},
	{"watch-events.json", "kubectl get deploy -w --output-watch-events -o json --show-managed-fields, then the same of rs, concatenated"},
}

// TestKubectlCaptures replays the kubectl output captured from the real
// API server (committed in testdata/kubectl; TestKubectlCaptureLive
// captures it afresh) and checks the replay knows what the cluster did.
func TestKubectlCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(c.file, func(t *testing.T) { checkCapture(t, filepath.Join(captured, c.file), c.file) })
	}
}

// checkCapture checks one capture: read as objects.yaml, the history
// holds revision 3 (3.0, made by kubectl-set) and revision 1 but not the
// deleted revision 2; replayed with a failure after the last change, the
// page names revision 3 by kubectl-set as the cause and finds no healthy
// revision to roll back to.
func checkCapture(t *testing.T, path, name string) {
	t.Helper()
	objs, err := scenario.ReadObjectsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := scenario.MissingManagedFields(path, objs); w != "" {
		t.Errorf("warning for a capture with managedFields: %s", w)
	}
	tr := history.New(history.Options{HealthyFor: 5 * time.Minute})
	var web workload.Ref
	deleted := 0
	for _, o := range objs {
		switch {
		case o.Deleted && o.ReplicaSet != nil:
			deleted++
			tr.DeleteReplicaSet(o.ReplicaSet.Namespace, o.ReplicaSet.Name, o.ReplicaSet.OwnerReferences[0].Name)
		case o.Deployment != nil:
			web = workload.Ref{Namespace: o.Deployment.Namespace, Name: o.Deployment.Name}
			tr.ObserveDeployment(o.Deployment, o.At)
		case o.ReplicaSet != nil:
			tr.ObserveReplicaSet(o.ReplicaSet)
		}
	}
	if strings.HasPrefix(name, "watch") && deleted == 0 {
		t.Errorf("no DELETED event in the watch")
	}
	d, ok := tr.Deployment(web)
	if !ok {
		t.Fatalf("no Deployment web in %d objects", len(objs))
	}
	var older []string
	for _, r := range tr.Revisions(web) {
		older = append(older, fmt.Sprintf("%d %s", r.Revision, history.Names(r.Images)))
	}
	got := fmt.Sprintf("revision %d %s, older %v", d.Revision, history.Names(d.Images), older)
	want := fmt.Sprintf("revision 3 [%s3.0], older [1 [%s1.0]]", imageBase, imageBase)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	last := lastChange(t, objs)
	page := replayFailure(t, path, web, last)
	before := "2.0" // the watch saw every change
	if !strings.HasPrefix(name, "watch") {
		before = "1.0" // a snapshot compares with the newest revision left
	}
	gotCause := fmt.Sprintf("revision %d by %s, %v -> %v, rollback %t", page.Cause.Revision, page.Cause.Manager,
		history.Names(page.Cause.ImagesBefore), history.Names(page.Cause.ImagesAfter), page.Decision.Rollback())
	wantCause := fmt.Sprintf("revision 3 by kubectl-set, [%s%s] -> [%s3.0], rollback false", imageBase, before, imageBase)
	if diff := cmp.Diff(wantCause, gotCause); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
}

// lastChange is the time of the newest kubectl-set entry: the last
// image change.
func lastChange(t *testing.T, objs []scenario.Object) time.Time {
	t.Helper()
	var last time.Time
	for _, o := range objs {
		if o.Deployment == nil {
			continue
		}
		for _, mf := range o.Deployment.ManagedFields {
			if mf.Manager == "kubectl-set" && mf.Time != nil && mf.Time.After(last) {
				last = mf.Time.UTC()
			}
		}
	}
	if last.IsZero() {
		t.Fatal("no kubectl-set change in the capture")
	}
	return last
}

// replayFailure replays the capture as objects.yaml with web healthy for
// 5 minutes before change and failing 90% after it, and returns the
// page.
func replayFailure(t *testing.T, objects string, web workload.Ref, change time.Time) incident.Action {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(objects)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, simulate.ObjectsFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var om bytes.Buffer
	om.WriteString("# HELP istio_requests Total requests.\n# TYPE istio_requests counter\n")
	start := change.Truncate(15 * time.Second).Add(-5 * time.Minute)
	var ok, failed int
	for at := start; at.Before(change.Add(5 * time.Minute)); at = at.Add(15 * time.Second) {
		for _, s := range []struct {
			code string
			v    int
		}{{"200", ok}, {"500", failed}} {
			fmt.Fprintf(&om, "istio_requests_total{destination_workload=%q,destination_workload_namespace=%q,pod=\"web-1\",reporter=\"destination\",response_code=%q} %d %d\n",
				web.Name, web.Namespace, s.code, s.v, at.Unix())
		}
		if at.After(change.Add(15 * time.Second)) {
			ok, failed = ok+15, failed+135
		} else {
			ok += 150
		}
	}
	om.WriteString("# EOF\n")
	if err := os.WriteFile(filepath.Join(dir, simulate.MetricsFile), om.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var c notify.Collect
	if _, err := simulate.Run(t.Context(), dir, config.Default(), &c); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Actions {
		if a.Kind == incident.Page && a.Cause != nil {
			return a
		}
	}
	t.Fatalf("no page with a cause among %d actions", len(c.Actions))
	return incident.Action{}
}

// TestKubectlCaptureLive makes the history on the real API server with
// the real kubectl, captures kubectl's output in every form, and checks
// each replays right; with -update it rewrites testdata/kubectl and the
// fuzz seeds made from it. It needs the test cluster
// (scripts/testenv.sh exec); run by hand without one it is skipped, under
// scripts/test.sh (SENTINEL_E2E=required) it fails.
func TestKubectlCaptureLive(t *testing.T) {
	kc := os.Getenv("SENTINEL_TEST_KUBECONFIG")
	if kc == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal("SENTINEL_TEST_KUBECONFIG is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test cluster: scripts/testenv.sh exec -- go test ./replay/scenario -run KubectlCaptureLive")
	}
	k := kubectl{t: t, kubeconfig: kc, ns: fmt.Sprintf("capture-%d", os.Getpid()), seen: map[string]bool{}}
	k.run("create", "namespace", k.ns)
	t.Cleanup(func() {
		_ = k.cmd(context.WithoutCancel(t.Context()), "delete", "namespace", k.ns, "--wait=false").Run()
	})

	// The watches run while the history is made, and end once they have
	// shown the deletion. kubectl watches one kind at a time.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := make(chan watchEvent)
	var raws [2]bytes.Buffer
	var cmds []*exec.Cmd
	var wg sync.WaitGroup
	for i, kind := range []string{"deploy", "rs"} {
		watch := k.cmd(ctx, "-n", k.ns, "get", kind, "-w", "--output-watch-events", "-o", "json", "--show-managed-fields")
		stdout, err := watch.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := watch.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, watch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			decodeEvents(io.TeeReader(stdout, &raws[i]), events)
		}()
	}
	go func() { wg.Wait(); close(events) }()

	k.run("-n", k.ns, "create", "deployment", "web", "--image="+imageBase+"1.0", "--replicas=0")
	k.waitReplicaSets(events, 1)
	k.run("-n", k.ns, "set", "image", "deployment/web", "web="+imageBase+"2.0")
	second := k.waitReplicaSets(events, 2)
	k.run("-n", k.ns, "set", "image", "deployment/web", "web="+imageBase+"3.0")
	k.waitReplicaSets(events, 3)
	k.run("-n", k.ns, "delete", "rs", second)
	k.waitDeleted(events, second)
	cancel()
	for range events { // until kubectl, killed, has closed its output
	}
	for _, c := range cmds {
		_ = c.Wait() // killed: the capture is complete
	}

	dir := t.TempDir()
	if *update {
		dir = captured
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"get-yaml.yaml":     k.run("-n", k.ns, "get", "deploy,rs", "-o", "yaml", "--show-managed-fields"),
		"get-json.json":     k.run("-n", k.ns, "get", "deploy,rs", "-o", "json", "--show-managed-fields"),
		"watch-events.json": raws[0].String() + raws[1].String(), // cat deploy.json rs.json
	}
	for _, c := range captures {
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, []byte(files[c.file]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(c.file, func(t *testing.T) { checkCapture(t, path, c.file) })
		if *update {
			seed := "go test fuzz v1\n[]byte(" + strconv.Quote(files[c.file]) + ")\n"
			if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzReadObjects", "kubectl-"+c.file), []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type kubectl struct {
	t              *testing.T
	kubeconfig, ns string
	seen           map[string]bool // ReplicaSets the watch has shown
}

func (k kubectl) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "kubectl", args...)
	c.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	return c
}

func (k kubectl) run(args ...string) string {
	k.t.Helper()
	var stderr bytes.Buffer
	c := k.cmd(k.t.Context(), args...)
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// waitReplicaSets reads the watch until it has shown n ReplicaSets in
// all, and returns the name of the one at revision n.
func (k kubectl) waitReplicaSets(events <-chan watchEvent, n int) string {
	k.t.Helper()
	seen := k.seen
	newest := ""
	timeout := time.After(30 * time.Second)
	for len(seen) < n {
		select {
		case ev, ok := <-events:
			if !ok {
				k.t.Fatalf("the watch ended after %d ReplicaSets, want %d", len(seen), n)
			}
			if ev.Object.Kind == "ReplicaSet" && ev.Type != "DELETED" &&
				ev.Object.Metadata.Annotations["deployment.kubernetes.io/revision"] == strconv.Itoa(n) {
				newest = ev.Object.Metadata.Name
			}
			if ev.Object.Kind == "ReplicaSet" {
				seen[ev.Object.Metadata.Name] = true
			}
		case <-timeout:
			k.t.Fatalf("no %d ReplicaSets in the watch after 30s", n)
		}
	}
	if newest == "" {
		k.t.Fatalf("no ReplicaSet at revision %d in the watch", n)
	}
	return newest
}

// waitDeleted reads the watch until it has shown name's deletion.
func (k kubectl) waitDeleted(events <-chan watchEvent, name string) {
	k.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				k.t.Fatalf("the watch ended before %s was deleted", name)
			}
			if ev.Type == "DELETED" && ev.Object.Metadata.Name == name {
				return
			}
		case <-timeout:
			k.t.Fatalf("no DELETED event for %s in the watch after 30s", name)
		}
	}
}

// watchEvent is what the test reads of kubectl's watch events.
type watchEvent struct {
	Type   string `json:"type"`
	Object struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	} `json:"object"`
}

func decodeEvents(r io.Reader, out chan<- watchEvent) {
	dec := json.NewDecoder(r)
	for {
		var ev watchEvent
		if err := dec.Decode(&ev); err != nil {
			return
		}
		out <- ev
	}
}
