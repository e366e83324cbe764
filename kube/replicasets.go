package kube

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ReplicaSets are watched without an informer cache. A cluster keeps up
// to ten old ReplicaSets per Deployment, each with a whole pod template:
// at 50,000 of them an informer's cache alone outgrows sentinel's memory
// limit, and the history keeps what it needs of each anyway (compactly).
// So a client-go Reflector (which relists and re-watches as an informer
// does) feeds rsStore, which hands every object to the sink and keeps only
// each ReplicaSet's owner and resourceVersion. The list is read in pages
// and each page handed to the sink as it comes; the reflector receives
// only the names (metav1.PartialObjectMetadata) to tell deletions by, so
// a list is never held decoded all at once.

// listPage is how many ReplicaSets one list request asks for.
const listPage = 500

// rsStore is the reflector's store (cache.ReflectorStore).
type rsStore struct {
	sink   Sink
	mu     sync.Mutex
	known  map[string]known // by namespace/name
	synced atomic.Bool
}

// known is what rsStore keeps of a ReplicaSet: its owner, for its delete,
// and its resourceVersion, to pass on only changes.
type known struct {
	owner           string // the controlling Deployment; "" for none
	resourceVersion string
}

func newRSStore(sink Sink) *rsStore { return &rsStore{sink: sink, known: map[string]known{}} }

func key(ns, name string) string { return ns + "/" + name }

func (s *rsStore) Add(obj any) error    { return s.observe(obj) }
func (s *rsStore) Update(obj any) error { return s.observe(obj) }
func (s *rsStore) Resync() error        { return nil }

func (s *rsStore) observe(obj any) error {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return fmt.Errorf("replicaset store: got %T", obj)
	}
	_, _ = Trim(rs)
	k, now := key(rs.Namespace, rs.Name), known{owner: controllerOf(rs), resourceVersion: rs.ResourceVersion}
	s.mu.Lock()
	before, ok := s.known[k]
	s.known[k] = now
	s.mu.Unlock()
	if ok && before == now && now.resourceVersion != "" {
		return nil // a relist of what was seen
	}
	s.sink.ObserveReplicaSet(rs)
	return nil
}

func (s *rsStore) Delete(obj any) error {
	rs, ok := untomb(obj).(*appsv1.ReplicaSet)
	if !ok {
		return fmt.Errorf("replicaset store: delete of %T", obj)
	}
	s.forget(key(rs.Namespace, rs.Name), rs.Namespace, rs.Name)
	return nil
}

func (s *rsStore) forget(k, ns, name string) {
	s.mu.Lock()
	was, ok := s.known[k]
	delete(s.known, k)
	s.mu.Unlock()
	if ok && was.owner != "" {
		s.sink.DeleteReplicaSet(ns, name, was.owner)
	}
}

// Replace ends a (re)list: listPages has observed every listed
// ReplicaSet and passes their names; those known but not listed were
// deleted meanwhile.
func (s *rsStore) Replace(list []any, _ string) error {
	seen := make(map[string]bool, len(list))
	for _, obj := range list {
		switch o := obj.(type) {
		case *metav1.PartialObjectMetadata:
			seen[key(o.Namespace, o.Name)] = true
		case *appsv1.ReplicaSet:
			if err := s.observe(o); err != nil {
				return err
			}
			seen[key(o.Namespace, o.Name)] = true
		default:
			return fmt.Errorf("replicaset store: list of %T", obj)
		}
	}
	s.mu.Lock()
	var gone [][2]string
	for k := range s.known {
		if !seen[k] {
			ns, name, _ := cache.SplitMetaNamespaceKey(k)
			gone = append(gone, [2]string{ns, name})
		}
	}
	s.mu.Unlock()
	for _, g := range gone {
		s.forget(key(g[0], g[1]), g[0], g[1])
	}
	s.synced.Store(true)
	return nil
}

func (s *rsStore) hasSynced() bool { return s.synced.Load() }

func controllerOf(rs *appsv1.ReplicaSet) string {
	for _, ref := range rs.OwnerReferences {
		if ref.Kind == "Deployment" && ref.Controller != nil && *ref.Controller {
			return ref.Name
		}
	}
	return ""
}

// listWatch lists ReplicaSets of ns in pages, observing each page as
// it comes, and watches them.
func (s *rsStore) listWatch(client kubernetes.Interface, ns string) *cache.ListWatch {
	rss := client.AppsV1().ReplicaSets(ns)
	return &cache.ListWatch{
		DisableChunking: true, // listPages pages itself
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return s.listPages(ctx, rss.List, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return rss.Watch(ctx, o)
		},
	}
}

type listFunc func(context.Context, metav1.ListOptions) (*appsv1.ReplicaSetList, error)

// listPages lists every ReplicaSet page by page (one list at the first
// page's resourceVersion), observes each, and returns their names.
func (s *rsStore) listPages(ctx context.Context, list listFunc, o metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	o.Limit = listPage
	if o.ResourceVersion == "0" {
		// The watch cache answers "0" whole; pages come from a quorum read.
		o.ResourceVersion = ""
	}
	var out *metav1.PartialObjectMetadataList
	for {
		page, err := list(ctx, o)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &metav1.PartialObjectMetadataList{ListMeta: page.ListMeta}
		}
		for i := range page.Items {
			rs := &page.Items[i]
			out.Items = append(out.Items, metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Namespace: rs.Namespace, Name: rs.Name, ResourceVersion: rs.ResourceVersion}})
			if err := s.observe(rs); err != nil {
				return nil, err
			}
		}
		if page.Continue == "" {
			out.Continue = ""
			return out, nil
		}
		o = metav1.ListOptions{LabelSelector: o.LabelSelector, FieldSelector: o.FieldSelector,
			Limit: listPage, Continue: page.Continue}
	}
}
