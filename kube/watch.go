// Package kube is sentinel's Kubernetes side. A Watcher feeds Deployments
// and ReplicaSets, from client-go reflectors without a cache (store.go),
// to the change history, the same code a recording feeds; an Executor
// carries out rollback plans against the live API the way `kubectl
// rollout undo` does, but conditioned on what the decision saw.
package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Sink receives what the watcher sees. The engine implements it.
type Sink interface {
	ObserveDeployment(d *appsv1.Deployment, at time.Time)
	ObserveReplicaSet(rs *appsv1.ReplicaSet)
	DeleteDeployment(namespace, name string)
	DeleteReplicaSet(namespace, name, owner string)
}

// WatchOptions select what is watched.
type WatchOptions struct {
	// Namespaces to watch; empty means all.
	Namespaces []string
	// LabelSelector limits Deployments and ReplicaSets.
	LabelSelector string
}

// Watcher runs the reflectors.
type Watcher struct {
	opts   WatchOptions
	log    *zap.Logger
	runs   []func(context.Context) // the reflectors
	synced []cache.InformerSynced  // fixed once NewWatcher returns
}

// NewWatcher sets up the reflectors feeding sink; Run starts them. The
// label selector applies to Deployments only: ReplicaSets carry their pod
// template's labels, not the Deployment's, and the history keeps those of
// watched Deployments.
func NewWatcher(client kubernetes.Interface, opts WatchOptions, sink Sink, clk clock.PassiveClock, log *zap.Logger) *Watcher {
	w := &Watcher{opts: opts, log: log}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		deps := newStore(kind[*appsv1.Deployment]{
			name:    "deployments",
			owner:   func(*appsv1.Deployment) string { return "" },
			observe: func(d *appsv1.Deployment) { sink.ObserveDeployment(d, clk.Now()) },
			forget:  func(ns, name, _ string) { sink.DeleteDeployment(ns, name) },
		})
		api := client.AppsV1().Deployments(ns)
		w.add(deps.hasSynced, cache.NewReflectorWithOptions(deps.listWatch(
			func(ctx context.Context, o metav1.ListOptions) ([]*appsv1.Deployment, metav1.ListMeta, error) {
				o.LabelSelector = opts.LabelSelector
				l, err := api.List(ctx, o)
				if err != nil {
					return nil, metav1.ListMeta{}, err
				}
				return pointers(l.Items), l.ListMeta, nil
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = opts.LabelSelector
				return api.Watch(ctx, o)
			}), &appsv1.Deployment{}, deps, cache.ReflectorOptions{Name: "deployments in " + nsName(ns)}))

		rss := newStore(kind[*appsv1.ReplicaSet]{
			name:    "replicasets",
			owner:   controllerOf,
			observe: sink.ObserveReplicaSet,
			forget: func(ns, name, owner string) {
				if owner != "" {
					sink.DeleteReplicaSet(ns, name, owner)
				}
			},
		})
		rsAPI := client.AppsV1().ReplicaSets(ns)
		w.add(rss.hasSynced, cache.NewReflectorWithOptions(rss.listWatch(
			func(ctx context.Context, o metav1.ListOptions) ([]*appsv1.ReplicaSet, metav1.ListMeta, error) {
				l, err := rsAPI.List(ctx, o)
				if err != nil {
					return nil, metav1.ListMeta{}, err
				}
				return pointers(l.Items), l.ListMeta, nil
			}, rsAPI.Watch), &appsv1.ReplicaSet{}, rss, cache.ReflectorOptions{Name: "replicasets in " + nsName(ns)}))
	}
	return w
}

func (w *Watcher) add(synced cache.InformerSynced, r *cache.Reflector) {
	w.synced = append(w.synced, synced)
	w.runs = append(w.runs, r.RunWithContext)
}

// pointers points into a list's items.
func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// Run starts the reflectors, waits until each has listed, and blocks
// until ctx ends. Reflectors relist and re-watch by themselves after
// disconnects and API server restarts.
func (w *Watcher) Run(ctx context.Context) error {
	var reflectors sync.WaitGroup
	defer reflectors.Wait()
	for _, run := range w.runs {
		reflectors.Go(func() { run(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return fmt.Errorf("wait for deployment and replicaset lists: %w", ctx.Err())
	}
	w.log.Info("kubernetes caches synced", zap.Strings("namespaces", w.opts.Namespaces),
		zap.String("label_selector", w.opts.LabelSelector))
	<-ctx.Done()
	return nil
}

// HasSynced reports whether every reflector has listed once.
func (w *Watcher) HasSynced() bool {
	for _, s := range w.synced {
		if !s() {
			return false
		}
	}
	return len(w.synced) > 0
}

func nsName(ns string) string {
	if ns == metav1.NamespaceAll {
		return "all namespaces"
	}
	return ns
}

func untomb(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
