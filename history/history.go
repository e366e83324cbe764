// Package history keeps, per Deployment, the revisions it went through,
// whether each served healthily, and the template changes that made them:
// what changed, when, and which field manager made it
// (docs/detection.md#who-made-a-change). A live watch and a recording feed
// it alike.
package history

import (
	"cmp"
	"compress/flate"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/workload"
)

// Annotations and labels Kubernetes itself maintains.
const (
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	PodTemplateHash    = "pod-template-hash"
)

// Image is one container's image.
type Image struct {
	Container string `json:"container"`
	Image     string `json:"image"`
}

// Revision is one ReplicaSet of a Deployment: a template it ran.
type Revision struct {
	Name     string
	Revision int64
	// Template is the ReplicaSet's pod template without the
	// pod-template-hash label, which is what `kubectl rollout undo` writes
	// back into the Deployment.
	Template corev1.PodTemplateSpec
	Images   []Image
	// Healthy: this template served long enough, with few enough failures
	// and enough traffic, to be a safe rollback target.
	Healthy bool
}

// Change is one change of a Deployment's pod template.
type Change struct {
	Workload workload.Ref
	// At is when the change was made: the time of the managedFields entry
	// that made it (the observation time where none is found).
	At time.Time
	// Revision is the revision the change created; 0 while unknown.
	Revision int64
	// Manager is the field manager that made the change; "" when no
	// managedFields entry names one (see By).
	Manager string
	// ImageChanged is true when a container's image changed.
	ImageChanged bool
	// Fields lists what changed, e.g. "containers[app].image",
	// "containers[app].env", "template.metadata".
	Fields       []string
	ImagesBefore []Image
	ImagesAfter  []Image
	// Fingerprint identifies the template the change made (see
	// Fingerprint); a Deployment that no longer has it was changed since.
	Fingerprint string
}

// UnknownManager stands in every rendering for the field manager of a
// change no managedFields entry names.
const UnknownManager = "an unknown manager"

// By names who made the change: its field manager, or UnknownManager.
func (c Change) By() string { return cmp.Or(c.Manager, UnknownManager) }

// Deployment is what decisions need to know of a Deployment now.
type Deployment struct {
	Workload        workload.Ref
	UID             string
	ResourceVersion string
	Paused          bool
	Annotations     map[string]string
	Revision        int64
	Images          []Image
	// Fingerprint identifies the current template (see Fingerprint).
	Fingerprint string
}

// Options tune a Tracker.
type Options struct {
	// HealthyFor is how long a template must be judged healthy in a row
	// before it counts as a healthy revision.
	HealthyFor time.Duration
	// MaxChanges bounds the changes remembered per Deployment.
	MaxChanges int
}

// Tracker holds the history of every Deployment it is told about. It is
// not safe for concurrent use; callers serialise access.
type Tracker struct {
	opts        Options
	deployments map[workload.Ref]*deployment
	seen        int // deployments with a state
	// firstSights are the Deployments first seen since Attribute last
	// ran: their first change waits to be attributed.
	firstSights []workload.Ref
	deflate     *flate.Writer // reused: each allocates its window
	dict        []byte        // deflate's dictionary (see compress)
}

type deployment struct {
	// state is what is known of the Deployment object; nil until it is
	// seen (a ReplicaSet may name it first).
	state *state
	fp    string // fingerprint of the current template
	// tmpl is the current template, kept as a ReplicaSet's is (see
	// replicaSet.tmpl): the object itself is let go once observed.
	tmpl    []byte
	changes []*change
	rs      map[string]*replicaSet // by name
	health  map[string]*health     // by template fingerprint
}

// state is what the history reads of a Deployment object: a few fields,
// where the object (its template, its managedFields) is a hundred times
// their size at scale.
type state struct {
	uid, resourceVersion           string
	paused                         bool
	annotations                    map[string]string
	generation, observedGeneration int64
	replicas                       int32 // spec.replicas; 1 when unset
	available                      int32
	images                         []Image
}

func stateOf(obj *appsv1.Deployment) *state {
	s := &state{uid: string(obj.UID), resourceVersion: obj.ResourceVersion, paused: obj.Spec.Paused,
		annotations: obj.Annotations, generation: obj.Generation, observedGeneration: obj.Status.ObservedGeneration,
		replicas: 1, available: obj.Status.AvailableReplicas, images: images(&obj.Spec.Template.Spec)}
	if obj.Spec.Replicas != nil {
		s.replicas = *obj.Spec.Replicas
	}
	return s
}

type replicaSet struct {
	name     string
	revision int64
	images   []Image
	// tmpl is the template without the pod-template-hash label, as the
	// JSON its fingerprint hashes, deflated (see compress).
	// It is read back only when a rollback or an attribution needs it.
	tmpl     []byte
	fp       string
	hash     string // the pod-template-hash label
	replicas int32
}

type change struct {
	Change
	// beforeFP is the fingerprint of the template the change replaced;
	// "" when unknown (a first sight until attributed, and then when no
	// older revision shows it).
	beforeFP string
	// tmpl is the template a first sight made, deflated, until Attribute
	// settles its attribution.
	tmpl []byte
	// managed is the Deployment's managedFields, parsed only when the
	// change is attributed (attribute), then let go: decoded, they are
	// several times their size.
	managed    []metav1.ManagedFieldsEntry
	attributed bool // attribution settled
}

// New returns an empty tracker.
func New(opts Options) *Tracker {
	if opts.MaxChanges <= 0 {
		opts.MaxChanges = 16
	}
	return &Tracker{opts: opts, deployments: map[workload.Ref]*deployment{}}
}

func (t *Tracker) get(w workload.Ref) *deployment {
	d := t.deployments[w]
	if d == nil {
		d = &deployment{rs: map[string]*replicaSet{}, health: map[string]*health{}}
		t.deployments[w] = d
	}
	return d
}

// ObserveDeployment records a Deployment as observed at at. It returns the
// template change the observation reveals, if any. Status-only updates
// and resyncs are not changes; neither is the first sight of a
// Deployment (its latest change is then worked out from its ReplicaSets:
// see Attribute).
func (t *Tracker) ObserveDeployment(obj *appsv1.Deployment, at time.Time) (Change, bool) {
	w := workload.Ref{Namespace: obj.Namespace, Name: obj.Name}
	d := t.get(w)
	prev := d.state
	if prev != nil && prev.resourceVersion == obj.ResourceVersion && obj.ResourceVersion != "" {
		return Change{}, false // resync
	}
	if prev == nil {
		t.seen++
		t.firstSights = append(t.firstSights, w)
	}
	d.state = stateOf(obj)
	raw, fp := templateJSON(&obj.Spec.Template)
	if prev != nil && fp == d.fp {
		return Change{}, false // status, scale, annotation or revision bump
	}
	before, beforeFP := d.tmpl, d.fp
	d.fp, d.tmpl = fp, t.compress(raw)
	c := &change{Change: Change{Workload: w, At: at.UTC(), Fingerprint: fp}, managed: obj.ManagedFields}
	if prev == nil {
		c.tmpl = d.tmpl // attributed by Attribute, once its ReplicaSets are known
	} else {
		c.beforeFP = beforeFP
		was := decodeTemplate(before, t.dict)
		var is corev1.PodTemplateSpec
		// Read back from the JSON, as the template before it is, so that
		// nil and empty compare alike; templateJSON's output always reads.
		_ = json.Unmarshal(raw, &is)
		c.attribute(&was, &is)
	}
	d.changes = append(d.changes, c)
	if len(d.changes) > t.opts.MaxChanges {
		d.changes = d.changes[len(d.changes)-t.opts.MaxChanges:]
	}
	if prev == nil {
		return Change{}, false
	}
	c.Revision = d.revisionOf(c.Fingerprint)
	return c.Change, true
}

// Len is the number of Deployments tracked (seen, not only named by a
// ReplicaSet's owner reference).
func (t *Tracker) Len() int { return t.seen }

// DeleteDeployment forgets a Deployment and its ReplicaSets.
func (t *Tracker) DeleteDeployment(namespace, name string) {
	w := workload.Ref{Namespace: namespace, Name: name}
	if d := t.deployments[w]; d != nil && d.state != nil {
		t.seen--
	}
	delete(t.deployments, w)
}

// ObserveReplicaSet records a ReplicaSet owned by a Deployment; others are
// ignored.
func (t *Tracker) ObserveReplicaSet(rs *appsv1.ReplicaSet) {
	owner := controllerDeployment(rs)
	if owner == "" {
		return
	}
	rev, err := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return // not (yet) a revision of a Deployment
	}
	replicas := int32(1)
	if rs.Spec.Replicas != nil {
		replicas = *rs.Spec.Replicas
	}
	d := t.get(workload.Ref{Namespace: rs.Namespace, Name: owner})
	if known := d.rs[rs.Name]; known != nil && known.revision == rev {
		// A ReplicaSet's template never changes: only its scale did.
		known.replicas = replicas
		return
	}
	// A shallow copy: only the labels lose the hash, in a copy of their
	// map; nothing of the object is kept.
	tmpl := rs.Spec.Template
	if _, ok := tmpl.Labels[PodTemplateHash]; ok {
		labels := make(map[string]string, len(tmpl.Labels)-1)
		for k, v := range tmpl.Labels {
			if k != PodTemplateHash {
				labels[k] = v
			}
		}
		if len(labels) == 0 {
			labels = nil
		}
		tmpl.Labels = labels
	}
	raw, fp := encodeTemplate(&tmpl)
	d.rs[rs.Name] = &replicaSet{
		name:     rs.Name,
		revision: rev,
		images:   images(&tmpl.Spec),
		tmpl:     t.compress(raw),
		fp:       fp,
		hash:     rs.Labels[PodTemplateHash],
		replicas: replicas,
	}
	// A change learns the revision it created when its ReplicaSet is
	// seen, and keeps it once the ReplicaSet is pruned.
	for _, c := range d.changes {
		if c.Fingerprint == fp {
			c.Revision = d.revisionOf(fp)
		}
	}
}

// DeleteReplicaSet forgets a ReplicaSet and health of templates no longer
// anywhere, which keeps memory bounded by what rollback can still use.
func (t *Tracker) DeleteReplicaSet(namespace, name, owner string) {
	d := t.deployments[workload.Ref{Namespace: namespace, Name: owner}]
	if d == nil {
		return
	}
	delete(d.rs, name)
	if d.state == nil && len(d.rs) == 0 {
		delete(t.deployments, workload.Ref{Namespace: namespace, Name: owner})
		return
	}
	live := map[string]bool{d.fp: true}
	for _, r := range d.rs {
		live[r.fp] = true
	}
	for fp := range d.health {
		if !live[fp] {
			delete(d.health, fp)
		}
	}
}

func controllerDeployment(rs *appsv1.ReplicaSet) string {
	for _, ref := range rs.OwnerReferences {
		if ref.Kind == "Deployment" && ref.Controller != nil && *ref.Controller {
			return ref.Name
		}
	}
	return ""
}

// Deployment returns what is known of a Deployment now.
func (t *Tracker) Deployment(w workload.Ref) (Deployment, bool) {
	d := t.deployments[w]
	if d == nil || d.state == nil {
		return Deployment{}, false
	}
	return Deployment{
		Workload:        w,
		UID:             d.state.uid,
		ResourceVersion: d.state.resourceVersion,
		Paused:          d.state.paused,
		Annotations:     d.state.annotations,
		Revision:        d.revisionOf(d.fp),
		Images:          slices.Clone(d.state.images),
		Fingerprint:     d.fp,
	}, true
}

// Revisions returns w's revisions older than its current one, newest
// first, each marked healthy or not.
func (t *Tracker) Revisions(w workload.Ref) []Revision {
	d := t.deployments[w]
	if d == nil {
		return nil
	}
	var out []Revision
	for _, r := range d.older(d.fp) {
		rev := Revision{Name: r.name, Revision: r.revision, Template: decodeTemplate(r.tmpl, t.dict), Images: r.images}
		rev.Healthy = d.health[r.fp] != nil && d.health[r.fp].healthy
		out = append(out, rev)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision > out[j].Revision })
	return out
}

// older returns the ReplicaSets of revisions before the one running
// template fp, other templates only.
func (d *deployment) older(fp string) []*replicaSet {
	cur := d.revisionOf(fp)
	var out []*replicaSet
	for _, r := range d.rs {
		if r.fp != fp && (cur == 0 || r.revision < cur) {
			out = append(out, r)
		}
	}
	return out
}

// rolledOut reports whether the current template's ReplicaSet exists and
// every other ReplicaSet of the Deployment is scaled to zero.
func (d *deployment) rolledOut() bool {
	current := false
	for _, r := range d.rs {
		if r.fp == d.fp {
			current = true
		} else if r.replicas > 0 {
			return false
		}
	}
	return current
}

// revisionOf is the revision of the ReplicaSet running template fp; the
// Deployment's own revision annotation where no ReplicaSet is known yet.
func (d *deployment) revisionOf(fp string) int64 {
	var best int64
	for _, r := range d.rs {
		if r.fp == fp && r.revision > best {
			best = r.revision
		}
	}
	// Until the controller has observed the current generation, the
	// annotation still names the previous revision.
	if best == 0 && d.state != nil && fp == d.fp && d.state.observedGeneration >= d.state.generation {
		best, _ = strconv.ParseInt(d.state.annotations[RevisionAnnotation], 10, 64)
	}
	return best
}
