package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cmp"

	gocmp "github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/kube"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// tracker is a history fed by the watcher (the Sink it needs).
type tracker struct {
	mu  sync.Mutex
	h   *history.Tracker
	at  time.Time
	rss int
}

func (t *tracker) ObserveDeployment(d *appsv1.Deployment, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.h.ObserveDeployment(d, at)
}

func (t *tracker) ObserveReplicaSet(rs *appsv1.ReplicaSet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rss++
	t.h.ObserveReplicaSet(rs)
}

func (t *tracker) DeleteDeployment(namespace, name string) {}

func (t *tracker) DeleteReplicaSet(namespace, name, owner string) {}

// TestTrimKeepsWhatHistoryReads fills the test API server with 200
// Deployments × 10 ReplicaSets as the benchmark does, changes the image of
// 20 of them as `kubectl set image` does, and feeds one history the
// objects as the API server lists them (whole) and another through the
// watcher (trimmed, templates deflated): both must attribute, judge and
// roll back every Deployment identically.
func TestTrimKeepsWhatHistoryReads(t *testing.T) {
	client := needCluster(t)
	ctx := t.Context()
	s := Shape{Namespaces: 4, Deployments: 200, ReplicaSets: 10}
	if _, err := Populate(ctx, client, s, 16); err != nil {
		t.Fatal(err)
	}
	const changed = 20
	for i := range changed {
		ns, name := s.Workload(i)
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image(name, 99))
		if _, err := client.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch),
			metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
			t.Fatal(err)
		}
	}
	// The controller makes revision 11 of each changed Deployment.
	var deps []*appsv1.Deployment
	var rss []*appsv1.ReplicaSet
	deadline := time.Now().Add(2 * time.Minute)
	for len(rss) != s.Deployments*s.ReplicaSets+changed {
		if time.Now().After(deadline) {
			t.Fatalf("%d ReplicaSets after 2 minutes, want %d", len(rss), s.Deployments*s.ReplicaSets+changed)
		}
		time.Sleep(time.Second)
		var err error
		// Only the shape's namespaces: other packages' tests share the
		// cluster.
		if deps, rss, err = list(ctx, client, s.NamespaceNames()...); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	opts := history.Options{HealthyFor: 5 * time.Minute}
	trimmed := &tracker{h: history.New(opts)}
	w := kube.NewWatcher(client, kube.WatchOptions{Namespaces: s.NamespaceNames()}, trimmed, clocktesting.NewFakePassiveClock(now), zaptest.NewLogger(t))
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil && !t.Failed() {
			t.Error(err)
		}
	}()
	waitFor(t, "the watcher's initial lists", func() bool {
		trimmed.mu.Lock()
		defer trimmed.mu.Unlock()
		return w.HasSynced() && trimmed.h.Len() == len(deps) && trimmed.rss >= len(rss)
	})

	// The controller may still write a status: the whole objects are
	// listed again until they are the versions the watcher has.
	var whole *tracker
	waitFor(t, "a list of the versions the watcher has", func() bool {
		var err error
		// Only the shape's namespaces: other packages' tests share the
		// cluster.
		if deps, rss, err = list(ctx, client, s.NamespaceNames()...); err != nil {
			t.Fatal(err)
		}
		whole = &tracker{h: history.New(opts)}
		for _, rs := range rss {
			whole.ObserveReplicaSet(rs.DeepCopy())
		}
		for _, d := range deps {
			whole.ObserveDeployment(d.DeepCopy(), now)
		}
		trimmed.mu.Lock()
		defer trimmed.mu.Unlock()
		for _, d := range deps {
			got, _ := trimmed.h.Deployment(workload.Ref{Namespace: d.Namespace, Name: d.Name})
			if got.ResourceVersion != d.ResourceVersion {
				return false
			}
		}
		return true
	})

	// Every Deployment's latest image change is out of band: kubectl set
	// image's on the 20 changed (revision 11), kubectl apply's on the
	// others (revision 10, first seen: attributed against revision 9).
	type decided struct {
		Manager            string
		Rollback           bool
		From, To           int64
		FromImage, ToImage string
	}
	for _, d := range deps {
		wl := workload.Ref{Namespace: d.Namespace, Name: d.Name}
		got, want := outcome(trimmed, wl, rss, now), outcome(whole, wl, rss, now)
		// The one thing read back that Trim drops, which nothing reads.
		want.Deployment.Annotations = maps.Clone(want.Deployment.Annotations)
		delete(want.Deployment.Annotations, lastApplied)
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Fatalf("%s through the watcher differs from the whole objects (-want +got):\n%s", wl, diff)
		}
		var i int
		if _, err := fmt.Sscanf(d.Name, "svc-%d", &i); err != nil {
			t.Fatal(err)
		}
		wantDecided := decided{Manager: applyManager, Rollback: true, From: 10, To: 9,
			FromImage: image(d.Name, 10), ToImage: image(d.Name, 9)}
		if i < changed {
			wantDecided = decided{Manager: "kubectl-set", Rollback: true, From: 11, To: 10,
				FromImage: image(d.Name, 99), ToImage: image(d.Name, 10)}
		}
		gotDecided := decided{Rollback: got.Decision.Rollback()}
		if n := len(got.Changes); n > 0 {
			gotDecided.Manager = got.Changes[n-1].Manager
		}
		if p := got.Decision.Plan; p != nil {
			gotDecided.From, gotDecided.To = p.FromRevision, p.ToRevision
			gotDecided.FromImage, gotDecided.ToImage = p.FromImages[0].Image, p.ToImages[0].Image
		}
		if diff := gocmp.Diff(wantDecided, gotDecided); diff != "" {
			t.Errorf("%s decided (-want +got, %s):\n%s", wl, got.Decision.Reason, diff)
		}
	}
}

// result is everything decisions read of one workload's history.
type result struct {
	Deployment history.Deployment
	Rollout    history.Rollout
	Revisions  []history.Revision
	Changes    []history.Change
	ByHash     []history.ReplicaSet
	Decision   rollback.Decision
}

// outcome reads w's history after every revision has served healthily
// for the required time, and decides a rollback of its latest change.
func outcome(t *tracker, w workload.Ref, rss []*appsv1.ReplicaSet, now time.Time) result {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r result
	for _, rs := range rss {
		if rs.Namespace == w.Namespace && len(rs.OwnerReferences) > 0 && rs.OwnerReferences[0].Name == w.Name {
			t.h.RecordRevisionHealth(now.Add(-10*time.Minute), w, rs.Name, history.ServedHealthy)
			t.h.RecordRevisionHealth(now, w, rs.Name, history.ServedHealthy)
			rsOf, _ := t.h.ReplicaSetOf(w, rs.Labels[history.PodTemplateHash])
			r.ByHash = append(r.ByHash, rsOf)
		}
	}
	r.Deployment, _ = t.h.Deployment(w)
	r.Rollout, _ = t.h.Rollout(w)
	r.Revisions = t.h.Revisions(w)
	// Newest first; ReplicaSets the controller numbered alike (a race of
	// the fill with the controller) come in map order, alike in neither.
	slices.SortStableFunc(r.Revisions, func(a, b history.Revision) int {
		return cmp.Or(cmp.Compare(b.Revision, a.Revision), strings.Compare(a.Name, b.Name))
	})
	r.Changes = t.h.Changes(w, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	in := rollback.Input{Incident: "incident", Workload: w, Deployment: &r.Deployment, Revisions: r.Revisions}
	decideAt := now
	if n := len(r.Changes); n > 0 {
		in.Cause = &r.Changes[n-1]
		// Changes are dated by their managedFields: the test cluster's clock.
		decideAt = in.Cause.At.Add(time.Minute)
	}
	r.Decision = rollback.NewPolicy(config.Default().Rollback).Decide(decideAt, in)
	return r
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// needCluster returns the test cluster's client, or skips when run by
// hand without one; under scripts/test.sh (SENTINEL_E2E=required) a
// missing cluster fails.
func needCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	kc := os.Getenv("SENTINEL_TEST_KUBECONFIG")
	if kc == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal("SENTINEL_TEST_KUBECONFIG is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test cluster: run scripts/testenv.sh exec -- go test ./test/scalebench")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatalf("load %s: %v", kc, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}
