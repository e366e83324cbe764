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
	"k8s.io/client-go/tools/cache"
)

// Deployments and ReplicaSets are watched without an informer cache. A
// cluster keeps up to ten old ReplicaSets per Deployment, each with a
// whole pod template, and every Deployment carries its own template and
// managedFields: at 5,000 Deployments and 50,000 ReplicaSets an informer's
// cache alone outgrows sentinel's memory limit, and the history keeps
// what it needs of each anyway (compactly). So a client-go Reflector
// (which relists and re-watches as an informer does) feeds a store, which
// hands every object to the sink and keeps only each object's owner and
// resourceVersion. The list is read in pages and each page handed to the
// sink as it comes; the reflector receives only the names
// (metav1.PartialObjectMetadata) to tell deletions by, so a list is never
// held decoded all at once.

// listPage is how many objects one list request asks for.
const listPage = 500

// object is a Deployment or a ReplicaSet pointer.
type object interface {
	*appsv1.Deployment | *appsv1.ReplicaSet
	metav1.Object
	runtime.Object
}

// kind is what a store does with objects of one type.
type kind[T object] struct {
	// name is the resource's plural, for messages.
	name string
	// owner is what forget needs besides the name (a ReplicaSet's
	// controlling Deployment).
	owner func(T) string
	// observe hands the (trimmed) object to the sink.
	observe func(T)
	// forget tells the sink the object is gone.
	forget func(namespace, name, owner string)
}

// store is a Reflector's store (cache.ReflectorStore) that keeps no
// objects.
type store[T object] struct {
	kind   kind[T]
	mu     sync.Mutex
	known  map[string]known // by namespace/name
	synced atomic.Bool
}

// known is what a store keeps of an object: its owner, for its delete,
// and its resourceVersion, to pass on only changes.
type known struct {
	owner           string
	resourceVersion string
}

func newStore[T object](k kind[T]) *store[T] { return &store[T]{kind: k, known: map[string]known{}} }

func key(ns, name string) string { return ns + "/" + name }

func (s *store[T]) Add(obj any) error    { return s.observe(obj) }
func (s *store[T]) Update(obj any) error { return s.observe(obj) }
func (s *store[T]) Resync() error        { return nil }

func (s *store[T]) observe(obj any) error {
	o, ok := obj.(T)
	if !ok {
		return fmt.Errorf("%s store: got %T", s.kind.name, obj)
	}
	_, _ = Trim(o)
	k, now := key(o.GetNamespace(), o.GetName()), known{owner: s.kind.owner(o), resourceVersion: o.GetResourceVersion()}
	s.mu.Lock()
	before, ok := s.known[k]
	s.known[k] = now
	s.mu.Unlock()
	if ok && before == now && now.resourceVersion != "" {
		return nil // a relist or resync of what was seen
	}
	s.kind.observe(o)
	return nil
}

func (s *store[T]) Delete(obj any) error {
	o, ok := untomb(obj).(T)
	if !ok {
		return fmt.Errorf("%s store: delete of %T", s.kind.name, obj)
	}
	s.forget(key(o.GetNamespace(), o.GetName()), o.GetNamespace(), o.GetName())
	return nil
}

func (s *store[T]) forget(k, ns, name string) {
	s.mu.Lock()
	was, ok := s.known[k]
	delete(s.known, k)
	s.mu.Unlock()
	if ok {
		s.kind.forget(ns, name, was.owner)
	}
}

// Replace ends a (re)list: listPages has observed every listed object
// and passes their names; those known but not listed were deleted
// meanwhile.
func (s *store[T]) Replace(list []any, _ string) error {
	seen := make(map[string]bool, len(list))
	for _, obj := range list {
		switch o := obj.(type) {
		case *metav1.PartialObjectMetadata:
			seen[key(o.Namespace, o.Name)] = true
		case T:
			if err := s.observe(o); err != nil {
				return err
			}
			seen[key(o.GetNamespace(), o.GetName())] = true
		default:
			return fmt.Errorf("%s store: list of %T", s.kind.name, obj)
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

func (s *store[T]) hasSynced() bool { return s.synced.Load() }

// listFunc lists one page.
type listFunc[T object] func(context.Context, metav1.ListOptions) ([]T, metav1.ListMeta, error)

// listWatch lists in pages, observing each page as it comes, and
// watches.
func (s *store[T]) listWatch(list listFunc[T], watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		DisableChunking: true, // listPages pages itself
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return s.listPages(ctx, list, o)
		},
		WatchFuncWithContext: watchFn,
	}
}

// listPages lists every object page by page (one list at the first
// page's resourceVersion), observes each, and returns their names.
func (s *store[T]) listPages(ctx context.Context, list listFunc[T], o metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	o.Limit = listPage
	switch o.ResourceVersion {
	case "": // a quorum read, paged
	case "0":
		// The watch cache answers "0" whole; pages come from a quorum read.
		o.ResourceVersion = ""
	default:
		// A relist from the last resourceVersion seen reads a state not
		// older than it. A paged list at a resourceVersion would read
		// exactly that past: once an API server restart leaves it behind
		// the watch cache, every watch from it fails as too old and
		// every relist would read the same past again. (client-go's own
		// reflector drops paging here instead.)
		o.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
	}
	var out *metav1.PartialObjectMetadataList
	for {
		items, meta, err := list(ctx, o)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &metav1.PartialObjectMetadataList{ListMeta: meta}
		}
		for _, obj := range items {
			out.Items = append(out.Items, metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Namespace: obj.GetNamespace(), Name: obj.GetName(), ResourceVersion: obj.GetResourceVersion()}})
			if err := s.observe(obj); err != nil {
				return nil, err
			}
		}
		if meta.Continue == "" {
			out.Continue = ""
			return out, nil
		}
		o = metav1.ListOptions{LabelSelector: o.LabelSelector, FieldSelector: o.FieldSelector,
			Limit: listPage, Continue: meta.Continue}
	}
}

func controllerOf(rs *appsv1.ReplicaSet) string {
	for _, ref := range rs.OwnerReferences {
		if ref.Kind == "Deployment" && ref.Controller != nil && *ref.Controller {
			return ref.Name
		}
	}
	return ""
}
