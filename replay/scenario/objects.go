package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	goruntime "runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"
)

// Object is one observation of a Deployment or ReplicaSet; exactly one of
// the two is set.
type Object struct {
	// At is when the object was observed: its newest managedFields time
	// (its creationTimestamp where it has none; its deletionTimestamp
	// when deleted with one), never earlier than the object observed
	// before it, since a stream is in observed order.
	At         time.Time
	Deployment *appsv1.Deployment
	ReplicaSet *appsv1.ReplicaSet
	// Deleted: the object was deleted (a watch's DELETED event); a replay
	// forgets it as the daemon's watcher does.
	Deleted bool
	// Line is where the object starts in the file.
	Line int

	event bool // read from a watch event
}

// meta is the object's metadata.
func (o Object) meta() *metav1.ObjectMeta {
	if o.Deployment != nil {
		return &o.Deployment.ObjectMeta
	}
	return &o.ReplicaSet.ObjectMeta
}

// ReadObjectsFile reads an objects.yaml file; see ReadObjects.
func ReadObjectsFile(path string) ([]Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read objects: %w", err)
	}
	defer f.Close()
	return ReadObjects(f, path)
}

// ReadObjects reads apps/v1 Deployments and ReplicaSets in what kubectl
// prints (docs/scenarios.md):
//
//   - a YAML stream of objects (`kubectl get deploy,rs -w -o yaml`);
//   - a List (`kubectl get deploy,rs -o yaml` or `-o json`), a snapshot
//     whose items are taken in the order of their own observation times;
//   - a stream of JSON documents (`kubectl get deploy -w -o json`);
//   - watch events (`--output-watch-events`, YAML or JSON): ADDED and
//     MODIFIED observe the object, DELETED forgets it, BOOKMARK is
//     skipped, ERROR is an error. A file of events only, such as the
//     Deployments' and the ReplicaSets' watches concatenated, is taken in
//     the order of the objects' resourceVersions.
//
// The stream is split by apimachinery's YAML reader (JSON by
// encoding/json) and each document decoded by apimachinery's
// deserializer. Any document that is not one of these, or lacks what
// sentinel needs, is an error naming the file and the document's line.
// Objects without managedFields are read (see MissingManagedFields).
func ReadObjects(r io.Reader, name string) ([]Object, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, bytes.Count(data, []byte("\n"))+1, err)
	}
	if what, fix := notText(data[:min(len(data), sniffLen)]); what != "" {
		return nil, fmt.Errorf("%s: %s; sentinel reads YAML or JSON text (kubectl get -o yaml or -o json): %s", name, what, fix)
	}
	docs, err := splitDocuments(bytes.TrimPrefix(data, []byte(utf8BOM)))
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, lineOf(err), err)
	}
	out, err := newDecoder().documents(docs)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, lineOf(err), err)
	}
	byResourceVersion(out)
	var last time.Time
	for i := range out {
		if out[i].At.Before(last) {
			out[i].At = last
		}
		last = out[i].At
	}
	return out, nil
}

// byResourceVersion puts a file of watch events only in the order of
// their objects' resourceVersions when every one is a number: kubectl
// watches one kind at a time, so a history of Deployments and
// ReplicaSets is two watches concatenated, and the API server (etcd)
// increases the resourceVersion with every write, across all objects.
// Anything else stays in file order.
func byResourceVersion(objs []Object) {
	rvs := make([]uint64, len(objs))
	for i, o := range objs {
		rv, err := strconv.ParseUint(o.meta().ResourceVersion, 10, 64)
		if !o.event || err != nil {
			return
		}
		rvs[i] = rv
	}
	idx := make([]int, len(objs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rvs[idx[a]] < rvs[idx[b]] })
	sorted := make([]Object, len(objs))
	for i, j := range idx {
		sorted[i] = objs[j]
	}
	copy(objs, sorted)
}

var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): `)

// syntaxLine is the 0-based line within its document of a YAML syntax
// error, read from the message's start only: text quoted from the
// document must not move it.
func syntaxLine(err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, e := strconv.Atoi(m[1]); e == nil && n > 0 {
			return n - 1
		}
	}
	return 0
}

// decoder decodes documents into objects with apimachinery's
// deserializer for apps/v1.
type decoder struct {
	codec runtime.Decoder
}

func newDecoder() *decoder {
	s := runtime.NewScheme()
	_ = appsv1.AddToScheme(s) // registers types only; cannot fail
	return &decoder{codec: serializer.NewCodecFactory(s).UniversalDeserializer()}
}

// documents decodes the documents on every core, keeping their order;
// the error is that of the first failing document in the file.
func (d *decoder) documents(docs []document) ([]Object, error) {
	objs := make([][]Object, len(docs))
	errs := make([]error, len(docs))
	var next, failed atomic.Int64 // the next document to take; the first failing one
	failed.Store(int64(len(docs)))
	var wg sync.WaitGroup
	for range min(goruntime.GOMAXPROCS(0), len(docs)) {
		wg.Go(func() {
			// Documents after a failing one need no decoding.
			for i := next.Add(1) - 1; i < failed.Load(); i = next.Add(1) - 1 {
				if objs[i], errs[i] = d.document(docs[i]); errs[i] != nil {
					lower(&failed, i)
				}
			}
		})
	}
	wg.Wait()
	if i := failed.Load(); i < int64(len(docs)) {
		return nil, errs[i]
	}
	n := 0
	for _, o := range objs {
		n += len(o)
	}
	out := make([]Object, 0, n)
	for _, o := range objs {
		out = append(out, o...)
	}
	return out, nil
}

// lower sets a to i if i is lower.
func lower(a *atomic.Int64, i int64) {
	for f := a.Load(); i < f && !a.CompareAndSwap(f, i); f = a.Load() {
	}
}

// envelope is what tells the forms apart: an object or List has a kind,
// a watch event a type and an object.
type envelope struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Type       string            `json:"type"`
	Object     json.RawMessage   `json:"object"`
	Items      []json.RawMessage `json:"items"`
}

// document decodes one document into the objects it observes.
func (d *decoder) document(doc document) ([]Object, error) {
	b := doc.text
	if !doc.json {
		var err error
		if b, err = yaml.YAMLToJSON(doc.text); err != nil {
			return nil, atLine(doc.line+syntaxLine(err), fmt.Errorf("invalid YAML: %w", err))
		}
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, atLine(doc.first, fmt.Errorf("want a Deployment, ReplicaSet, List or watch event: %w", err))
	}
	switch {
	case env.Kind == "" && env.Type != "":
		o, ok, err := d.event(env)
		if err != nil {
			return nil, atLine(doc.first, err)
		}
		if !ok {
			return nil, nil
		}
		o.Line = doc.first
		return []Object{o}, nil
	case env.Kind == "List" || len(env.Kind) > 4 && env.Kind[len(env.Kind)-4:] == "List":
		return d.list(doc, env)
	}
	o, err := d.object(b, nil)
	if err != nil {
		return nil, atLine(doc.first, err)
	}
	o.Line = doc.first
	return []Object{o}, nil
}

// event decodes a watch event; ok is false for a BOOKMARK.
func (d *decoder) event(env envelope) (Object, bool, error) {
	switch env.Type {
	case "ADDED", "MODIFIED", "DELETED":
	case "BOOKMARK":
		return Object{}, false, nil
	case "ERROR":
		var st metav1.Status
		_ = json.Unmarshal(env.Object, &st) // the message is shown if there is one
		return Object{}, false, fmt.Errorf("watch ERROR event: %q: the watch broke here; record again", st.Message)
	default:
		return Object{}, false, fmt.Errorf("watch event type %q: want ADDED, MODIFIED, DELETED, BOOKMARK or ERROR", env.Type)
	}
	if len(env.Object) == 0 || string(env.Object) == "null" {
		return Object{}, false, fmt.Errorf("watch event %s without an object", env.Type)
	}
	o, err := d.object(env.Object, nil)
	if err != nil {
		return Object{}, false, fmt.Errorf("watch event %s: %w", env.Type, err)
	}
	o.event = true
	if env.Type == "DELETED" {
		o.Deleted = true
		if ts := o.meta().DeletionTimestamp; ts != nil && ts.After(o.At) {
			o.At = ts.UTC()
		}
	}
	return o, true, nil
}

// list decodes a List's items. A List is a snapshot: its items are put
// in the order of their own observation times (ties in list order).
func (d *decoder) list(doc document, env envelope) ([]Object, error) {
	// DeploymentList's items may lack their kind; List's carry theirs.
	var def *schema.GroupVersionKind
	if env.Kind != "List" {
		gvk := schema.FromAPIVersionAndKind(env.APIVersion, env.Kind[:len(env.Kind)-4])
		def = &gvk
	}
	lines := itemLines(doc)
	out := make([]Object, 0, len(env.Items))
	for i, item := range env.Items {
		line := doc.first
		if i < len(lines) {
			line = lines[i]
		}
		o, err := d.object(item, def)
		if err != nil {
			return nil, atLine(line, fmt.Errorf("items[%d]: %w", i, err))
		}
		o.Line = line
		out = append(out, o)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// itemLines finds the line of each item of a List document (YAML or
// JSON, both YAML to the parser); nil when it cannot.
func itemLines(doc document) []int {
	var n yamlNode
	if err := n.parse(doc.text); err != nil {
		return nil
	}
	lines := n.itemLines()
	for i := range lines {
		lines[i] += doc.line - 1
	}
	return lines
}

// object decodes one apps/v1 Deployment or ReplicaSet (JSON) and checks
// what sentinel needs of it. def is the kind to assume when it has none.
func (d *decoder) object(b []byte, def *schema.GroupVersionKind) (Object, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(b, &tm); err != nil {
		return Object{}, fmt.Errorf("want a Deployment or ReplicaSet: %w", err)
	}
	if tm.APIVersion == "" && tm.Kind == "" && def != nil {
		tm.APIVersion, tm.Kind = def.GroupVersion().String(), def.Kind
	}
	if tm.APIVersion != "apps/v1" {
		return Object{}, fmt.Errorf("apiVersion %q: want apps/v1", tm.APIVersion)
	}
	if tm.Kind != "Deployment" && tm.Kind != "ReplicaSet" {
		return Object{}, fmt.Errorf("kind %q: want Deployment or ReplicaSet", tm.Kind)
	}
	gvk := appsv1.SchemeGroupVersion.WithKind(tm.Kind)
	obj, _, err := d.codec.Decode(b, &gvk, nil)
	if err != nil {
		return Object{}, fmt.Errorf("decode %s: %w", tm.Kind, err)
	}
	var o Object
	switch x := obj.(type) {
	case *appsv1.Deployment:
		o.Deployment = x
	case *appsv1.ReplicaSet:
		o.ReplicaSet = x
	default:
		return Object{}, fmt.Errorf("kind %q: want Deployment or ReplicaSet", tm.Kind)
	}
	if err := check(o, tm.Kind); err != nil {
		return Object{}, err
	}
	meta := o.meta()
	if o.At = ObservedAt(meta); o.At.IsZero() {
		return Object{}, fmt.Errorf("%s %s/%s: no managedFields time and no creationTimestamp, so no observation time",
			tm.Kind, meta.Namespace, meta.Name)
	}
	return o, nil
}

// check asks of an object what a replay needs, and sets its time.
func check(o Object, kind string) error {
	meta := o.meta()
	if meta.Name == "" || meta.Namespace == "" {
		return fmt.Errorf("%s: metadata.name and metadata.namespace are required", kind)
	}
	containers := 0
	if o.Deployment != nil {
		containers = len(o.Deployment.Spec.Template.Spec.Containers)
	} else {
		containers = len(o.ReplicaSet.Spec.Template.Spec.Containers)
	}
	if containers == 0 {
		return fmt.Errorf("%s %s/%s: spec.template.spec.containers is empty", kind, meta.Namespace, meta.Name)
	}
	return nil
}
