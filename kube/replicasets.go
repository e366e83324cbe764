package kube

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
// each ReplicaSet's owner, for its delete. The initial list is read in
// pages, each ReplicaSet's template deflated until the reflector hands the
// whole list over: a list is never held decoded all at once.

// listPage is how many ReplicaSets one list request asks for.
const listPage = 500

// templateKey marks a listed ReplicaSet whose template rsStore holds
// deflated (in-memory only; never sent anywhere).
const templateKey = "sentinel.internal/deflated-template"

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
	if err := inflate(rs); err != nil {
		return err
	}
	_, _ = Trim(rs) // watch events come whole
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

// Replace is a (re)list: every listed ReplicaSet is observed, and those
// known but no longer listed were deleted meanwhile.
func (s *rsStore) Replace(list []any, _ string) error {
	seen := make(map[string]bool, len(list))
	for _, obj := range list {
		if err := s.observe(obj); err != nil {
			return err
		}
		rs := obj.(*appsv1.ReplicaSet)
		seen[key(rs.Namespace, rs.Name)] = true
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

// rsListWatch lists ReplicaSets of ns in pages, trimming each and
// deflating its template, and watches them as they are.
func rsListWatch(client kubernetes.Interface, ns string) *cache.ListWatch {
	rss := client.AppsV1().ReplicaSets(ns)
	return &cache.ListWatch{
		DisableChunking: true, // listPages pages itself
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return listPages(ctx, rss.List, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return rss.Watch(ctx, o)
		},
	}
}

type listFunc func(context.Context, metav1.ListOptions) (*appsv1.ReplicaSetList, error)

// listPages lists every ReplicaSet page by page, as one list at the first
// page's resourceVersion, each item trimmed and its template deflated.
func listPages(ctx context.Context, list listFunc, o metav1.ListOptions) (*appsv1.ReplicaSetList, error) {
	o.Limit = listPage
	if o.ResourceVersion == "0" {
		// The watch cache answers "0" whole; pages come from a quorum read.
		o.ResourceVersion = ""
	}
	var out *appsv1.ReplicaSetList
	zw, _ := flate.NewWriter(io.Discard, flate.BestSpeed) // a valid level
	for {
		page, err := list(ctx, o)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &appsv1.ReplicaSetList{ListMeta: page.ListMeta}
			out.Items = make([]appsv1.ReplicaSet, 0, len(page.Items))
		}
		for i := range page.Items {
			rs := &page.Items[i]
			_, _ = Trim(rs)
			if err := deflate(zw, rs); err != nil {
				return nil, err
			}
			out.Items = append(out.Items, *rs)
		}
		if page.Continue == "" {
			out.Continue = ""
			return out, nil
		}
		o = metav1.ListOptions{LabelSelector: o.LabelSelector, FieldSelector: o.FieldSelector,
			Limit: listPage, Continue: page.Continue}
	}
}

// deflate replaces rs's template by its deflated JSON in an annotation.
func deflate(zw *flate.Writer, rs *appsv1.ReplicaSet) error {
	raw, err := json.Marshal(&rs.Spec.Template)
	if err != nil {
		return fmt.Errorf("encode the template of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	var buf bytes.Buffer
	zw.Reset(&buf)
	_, _ = zw.Write(raw) // a bytes.Buffer never fails
	_ = zw.Close()
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[templateKey] = buf.String()
	rs.Spec.Template = corev1.PodTemplateSpec{}
	return nil
}

// inflate restores a template deflate replaced.
func inflate(rs *appsv1.ReplicaSet) error {
	z, ok := rs.Annotations[templateKey]
	if !ok {
		return nil
	}
	delete(rs.Annotations, templateKey)
	if err := json.NewDecoder(flate.NewReader(bytes.NewReader([]byte(z)))).Decode(&rs.Spec.Template); err != nil {
		return fmt.Errorf("decode the template of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}
