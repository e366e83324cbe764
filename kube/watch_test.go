package kube_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/kube"
)

// sink records what the watcher hands the engine, one line per call.
type sink struct {
	mu     sync.Mutex
	events []string
	last   map[string]any // the last object observed, by "kind namespace/name"
	at     []time.Time
}

func (s *sink) record(event, key string, obj any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, event)
	if obj != nil {
		if s.last == nil {
			s.last = map[string]any{}
		}
		s.last[key] = obj
	}
}

func (s *sink) ObserveDeployment(d *appsv1.Deployment, at time.Time) {
	s.mu.Lock()
	s.at = append(s.at, at)
	s.mu.Unlock()
	s.record(fmt.Sprintf("observe deployment %s/%s at %s", d.Namespace, d.Name, d.ResourceVersion),
		"deployment "+d.Namespace+"/"+d.Name, d)
}

func (s *sink) ObserveReplicaSet(rs *appsv1.ReplicaSet) {
	s.record(fmt.Sprintf("observe replicaset %s/%s at %s", rs.Namespace, rs.Name, rs.ResourceVersion),
		"replicaset "+rs.Namespace+"/"+rs.Name, rs)
}

func (s *sink) DeleteDeployment(namespace, name string) {
	s.record("delete deployment "+namespace+"/"+name, "", nil)
}

func (s *sink) DeleteReplicaSet(namespace, name, owner string) {
	s.record("delete replicaset "+namespace+"/"+name+" of "+owner, "", nil)
}

func (s *sink) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// waitFor waits until every one of events has reached the sink.
func (s *sink) waitFor(t *testing.T, events ...string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%q", events), func() bool {
		seen := s.seen()
		for _, e := range events {
			if !slices.Contains(seen, e) {
				return false
			}
		}
		return true
	})
}

// waitUntil polls ok: reflectors deliver on their own goroutines.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatcher(t *testing.T) {
	web := deployment()
	web.ResourceVersion = "1"
	web.Labels = map[string]string{"team": "shop"}
	web.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: "True"}}
	// Not selected by the label selector.
	batch := deployment()
	batch.Name, batch.ResourceVersion, batch.UID = "batch", "1", "uid-batch"
	// Selected, but in a namespace not watched.
	elsewhere := deployment()
	elsewhere.Namespace, elsewhere.ResourceVersion, elsewhere.Labels = "elsewhere", "1", map[string]string{"team": "shop"}
	// ReplicaSets carry their pods' labels, never the Deployment's: the
	// selector must not hide them.
	v1 := replicaSet("web-v1", "1", "v1")
	v1.ResourceVersion = "1"
	v1.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
	v1.Status = appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 3}
	batchRS := replicaSet("batch-1", "1", "v1")
	batchRS.ResourceVersion, batchRS.OwnerReferences[0].Name = "1", "batch"

	client := fake.NewClientset(web, batch, elsewhere, v1, batchRS)
	clk := clocktesting.NewFakePassiveClock(now)
	s := &sink{}
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	w := kube.NewWatcher(client, kube.WatchOptions{Namespaces: []string{ns}, LabelSelector: "team=shop"}, s, clk, log)
	if w.HasSynced() {
		t.Error("synced before Run")
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitUntil(t, "caches synced", w.HasSynced)
	// Run, too, has seen them synced (it polls).
	waitUntil(t, "Run past the sync", func() bool { return logs.FilterMessage("kubernetes caches synced").Len() == 1 })
	// The fake API server has no resourceVersions to resume from: changes
	// made before the watches are open would be lost.
	waitUntil(t, "watches open", func() bool {
		v := verbs(client.Actions())
		return slices.Contains(v, "watch deployments") && slices.Contains(v, "watch replicasets")
	})
	s.waitFor(t, "observe deployment shop/web at 1", "observe replicaset shop/web-v1 at 1", "observe replicaset shop/batch-1 at 1")

	// A resync (the same resourceVersion) is not passed on; the change
	// after it is, so the resync has been handled by then.
	deps, rss := client.AppsV1().Deployments(ns), client.AppsV1().ReplicaSets(ns)
	for _, rv := range []string{"1", "2"} {
		d := web.DeepCopy()
		d.ResourceVersion = rv
		d.Spec.Template = podTemplate("v2-" + rv)
		if _, err := deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		rs := v1.DeepCopy()
		rs.ResourceVersion = rv
		rs.Spec.Replicas = new(int32)
		if _, err := rss.Update(ctx, rs, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor(t, "observe deployment shop/web at 2", "observe replicaset shop/web-v1 at 2")

	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rss.Delete(ctx, "web-v1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "delete deployment shop/web", "delete replicaset shop/web-v1 of web")

	got := s.seen()
	slices.Sort(got)
	want := []string{
		"delete deployment shop/web",
		"delete replicaset shop/web-v1 of web",
		"observe deployment shop/web at 1",
		"observe deployment shop/web at 2",
		"observe replicaset shop/batch-1 at 1",
		"observe replicaset shop/web-v1 at 1",
		"observe replicaset shop/web-v1 at 2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sink (-want +got):\n%s", diff)
	}

	s.mu.Lock()
	for _, at := range s.at {
		if !at.Equal(now) {
			t.Errorf("deployment observed at %s, want the clock's %s", at, now)
		}
	}
	// What sentinel never reads is trimmed before the cache.
	if rs := s.last["replicaset shop/web-v1"].(*appsv1.ReplicaSet); rs.ManagedFields != nil {
		t.Errorf("replicaset kept managedFields %v", rs.ManagedFields)
	} else if diff := cmp.Diff(appsv1.ReplicaSetStatus{}, rs.Status); diff != "" {
		t.Errorf("replicaset kept its status (-want +got):\n%s", diff)
	}
	wantStatus := *web.Status.DeepCopy()
	wantStatus.Conditions = nil
	if d := s.last["deployment shop/web"].(*appsv1.Deployment); d.Status.ObservedGeneration != 2 {
		t.Errorf("deployment status observed generation %d, want 2", d.Status.ObservedGeneration)
	} else if diff := cmp.Diff(wantStatus, d.Status); diff != "" {
		t.Errorf("deployment status, want all but the conditions (-want +got):\n%s", diff)
	}
	s.mu.Unlock()

	// The selector is sent for Deployments only, and every request stays
	// in the watched namespace.
	for _, a := range client.Actions() {
		var sel string
		switch a := a.(type) {
		case k8stesting.ListActionImpl:
			sel = a.ListOptions.LabelSelector
		case k8stesting.WatchActionImpl:
			sel = a.ListOptions.LabelSelector
		default:
			continue
		}
		want := ""
		if a.GetResource().Resource == "deployments" {
			want = "team=shop"
		}
		if sel != want || a.GetNamespace() != ns {
			t.Errorf("%s %s in %q with selector %q, want %q in %s", a.GetVerb(), a.GetResource().Resource, a.GetNamespace(), sel, want, ns)
		}
	}
}
