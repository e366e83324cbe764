// Package kube is sentinel's Kubernetes side. A Watcher feeds Deployments
// (from a client-go shared informer) and ReplicaSets (from a client-go
// reflector without a cache, see replicasets.go) to the change history
// (the same code a recording feeds), and an Executor carries out rollback
// plans against the live API the way `kubectl rollout undo` does, but
// conditioned on what the decision saw.
package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
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

// Watcher runs the informers.
type Watcher struct {
	opts      WatchOptions
	sink      Sink
	clock     clock.PassiveClock
	log       *zap.Logger
	factories []informers.SharedInformerFactory
	rss       []*cache.Reflector
	synced    []cache.InformerSynced // fixed once NewWatcher returns
}

// NewWatcher sets up the informers feeding sink; Run starts them. The
// label selector applies to Deployments only: ReplicaSets carry their pod
// template's labels, not the Deployment's, and the history keeps those of
// watched Deployments.
func NewWatcher(client kubernetes.Interface, opts WatchOptions, sink Sink, clk clock.PassiveClock, log *zap.Logger) (*Watcher, error) {
	w := &Watcher{opts: opts, sink: sink, clock: clk, log: log}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		deps := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = opts.LabelSelector }),
			informers.WithTransform(Trim))
		if err := w.register(deps); err != nil {
			return nil, err
		}
		w.factories = append(w.factories, deps)
		store := newRSStore(sink)
		w.rss = append(w.rss, cache.NewReflectorWithOptions(store.listWatch(client, ns), &appsv1.ReplicaSet{}, store,
			cache.ReflectorOptions{Name: "replicasets in " + nsName(ns)}))
		w.synced = append(w.synced, store.hasSynced)
	}
	return w, nil
}

// Run starts the informers, waits for their caches, and blocks until ctx
// ends. Informers relist and re-watch by themselves after disconnects and
// API server restarts.
func (w *Watcher) Run(ctx context.Context) error {
	var reflectors sync.WaitGroup
	for _, r := range w.rss {
		reflectors.Go(func() { r.RunWithContext(ctx) })
	}
	for _, f := range w.factories {
		f.Start(ctx.Done())
	}
	defer func() {
		for _, f := range w.factories {
			f.Shutdown()
		}
		reflectors.Wait()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return fmt.Errorf("wait for deployment and replicaset caches: %w", ctx.Err())
	}
	w.log.Info("kubernetes caches synced", zap.Strings("namespaces", w.opts.Namespaces),
		zap.String("label_selector", w.opts.LabelSelector))
	<-ctx.Done()
	return nil
}

// HasSynced reports whether every informer has listed once.
func (w *Watcher) HasSynced() bool {
	for _, s := range w.synced {
		if !s() {
			return false
		}
	}
	return len(w.synced) > 0
}

func (w *Watcher) register(depf informers.SharedInformerFactory) error {
	deps := depf.Apps().V1().Deployments().Informer()
	h1, err := deps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { w.deployment(obj) },
		UpdateFunc: func(old, cur any) {
			if o, ok := old.(*appsv1.Deployment); ok && o.ResourceVersion == cur.(*appsv1.Deployment).ResourceVersion {
				return // resync
			}
			w.deployment(cur)
		},
		DeleteFunc: func(obj any) {
			if d, ok := untomb(obj).(*appsv1.Deployment); ok {
				w.sink.DeleteDeployment(d.Namespace, d.Name)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch deployments: %w", err)
	}
	w.synced = append(w.synced, h1.HasSynced)
	return nil
}

func nsName(ns string) string {
	if ns == metav1.NamespaceAll {
		return "all namespaces"
	}
	return ns
}

func (w *Watcher) deployment(obj any) {
	if d, ok := obj.(*appsv1.Deployment); ok {
		w.sink.ObserveDeployment(d, w.clock.Now())
	}
}

func untomb(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
