package backtest

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/replay/scenario"
)

// Scope selects the Deployments whose history is read: namespaces (all
// when empty), a name within them (all when empty) and, as the daemon
// watches, kubernetes.label_selector on Deployments.
type Scope struct {
	Namespaces    []string
	Workload      string
	LabelSelector string
}

// FromCluster reads the change history of the Deployments in scope from
// the API server and writes it as an objects.yaml stream (the recording
// format; ReadHistory reads it back). What the cluster still knows is all
// it says:
//
//   - each ReplicaSet owned by a Deployment is a revision: its template,
//     and its creation time as the time of the change that made it;
//   - the newest revision's change is the Deployment itself, with the
//     managedFields entries written up to that change, so attribution
//     names who made it (the newest owner of the changed fields) and when;
//   - older revisions are Deployment snapshots without managedFields: who
//     made them is unknown and is reported so, never guessed (their
//     creationTimestamp is the ReplicaSet's, the time the revision
//     appeared). A rollback never acts on an unattributed change.
//
// ReplicaSets keep their present replica counts and status, as does the
// newest Deployment snapshot; older snapshots have no status but their
// observed generation. A ReplicaSet reused by
// `kubectl rollout undo` appears at its creation under its first revision
// number (deployment.kubernetes.io/revision-history) and, when it runs
// now, again at the undo; when a reuse in between happened is not known,
// so it is left out.
func FromCluster(ctx context.Context, c kubernetes.Interface, scope Scope) ([]byte, error) {
	nss := scope.Namespaces
	if len(nss) == 0 {
		nss = []string{metav1.NamespaceAll}
	}
	var buf bytes.Buffer
	for _, ns := range nss {
		deps, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: scope.LabelSelector})
		if err != nil {
			return nil, fmt.Errorf("list deployments in %q: %w", ns, err)
		}
		rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list replicasets in %q: %w", ns, err)
		}
		owned := map[string][]appsv1.ReplicaSet{} // by namespace/deployment
		for _, rs := range rss.Items {
			for _, ref := range rs.OwnerReferences {
				if ref.Kind == "Deployment" && ref.Controller != nil && *ref.Controller {
					owned[rs.Namespace+"/"+ref.Name] = append(owned[rs.Namespace+"/"+ref.Name], rs)
				}
			}
		}
		for i := range deps.Items {
			d := &deps.Items[i]
			if scope.Workload != "" && d.Name != scope.Workload {
				continue
			}
			if err := writeTimeline(&buf, d, owned[d.Namespace+"/"+d.Name]); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), nil
}

// snapshot is one object of the timeline.
type snapshot struct {
	at  time.Time
	obj any
	why string
}

// revision is one ReplicaSet and the revision number it first had.
type revision struct {
	first, now int64
	rs         *appsv1.ReplicaSet
}

// revisions lists the revisions of a Deployment's ReplicaSets in the
// order they first appeared.
func revisions(rss []appsv1.ReplicaSet) []revision {
	var revs []revision
	for i := range rss {
		n, err := strconv.ParseInt(rss[i].Annotations[history.RevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		first := n
		if h, _, _ := strings.Cut(rss[i].Annotations[revisionHistory], ","); h != "" {
			if f, err := strconv.ParseInt(h, 10, 64); err == nil && f < n {
				first = f
			}
		}
		revs = append(revs, revision{first: first, now: n, rs: &rss[i]})
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].first < revs[j].first })
	return revs
}

// revisionHistory lists the earlier revision numbers of a reused
// ReplicaSet.
const revisionHistory = "deployment.kubernetes.io/revision-history"

// writeTimeline appends one Deployment's reconstructed history.
func writeTimeline(buf *bytes.Buffer, d *appsv1.Deployment, rss []appsv1.ReplicaSet) error {
	current := history.Fingerprint(&d.Spec.Template)
	var snaps []snapshot
	for _, r := range revisions(rss) {
		created := r.rs.CreationTimestamp.Time.UTC()
		rs := r.rs.DeepCopy()
		rs.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}
		rs.ManagedFields = upTo(rs.ManagedFields, created)
		snaps = append(snaps, snapshot{at: created, obj: rs,
			why: fmt.Sprintf("ReplicaSet %s: revision %d, created %s", rs.Name, r.now, created.Format(time.RFC3339))})

		tmpl := *r.rs.Spec.Template.DeepCopy()
		delete(tmpl.Labels, history.PodTemplateHash)
		if len(tmpl.Labels) == 0 {
			tmpl.Labels = nil
		}
		at := func(n int64) *appsv1.Deployment {
			dep := d.DeepCopy()
			dep.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
			dep.Spec.Template = tmpl
			dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation}
			dep.Annotations = withRevision(dep.Annotations, n)
			dep.ResourceVersion = fmt.Sprintf("%s-revision-%d", d.ResourceVersion, n)
			return dep
		}
		runs := history.Fingerprint(&tmpl) == current
		if !runs || r.first != r.now {
			dep := at(r.first)
			dep.ManagedFields = nil
			dep.CreationTimestamp = metav1.NewTime(created)
			snaps = append(snaps, snapshot{at: created, obj: dep,
				why: fmt.Sprintf("Deployment %s/%s at revision %d: reconstructed from ReplicaSet %s; who made this change is unknown", d.Namespace, d.Name, r.first, rs.Name)})
		}
		if runs {
			when := changedAt(d, created)
			dep := at(r.now)
			dep.Status = *d.Status.DeepCopy()
			dep.ManagedFields = upTo(d.ManagedFields, when)
			snaps = append(snaps, snapshot{at: when, obj: dep,
				why: fmt.Sprintf("Deployment %s/%s at revision %d: managedFields up to %s name who changed it", d.Namespace, d.Name, r.now, when.Format(time.RFC3339))})
		}
	}
	// Observed order: by time, a ReplicaSet before the Deployment that
	// moved to it (stable sort keeps that order on ties).
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].at.Before(snaps[j].at) })
	for _, s := range snaps {
		b, err := yaml.Marshal(s.obj)
		if err != nil {
			return fmt.Errorf("encode %s: %w", s.why, err)
		}
		fmt.Fprintf(buf, "---\n# %s\n", s.why)
		buf.Write(b)
	}
	return nil
}

// changedAt is when the Deployment's current template was written: the
// newest managedFields time of an entry owning template fields, or the
// ReplicaSet's creation when that is later (or no entry says).
func changedAt(d *appsv1.Deployment, created time.Time) time.Time {
	at := created
	for _, mf := range d.ManagedFields {
		if mf.Subresource != "" || mf.Time == nil || mf.FieldsV1 == nil {
			continue
		}
		if bytes.Contains(mf.FieldsV1.Raw, []byte(`"f:template"`)) && mf.Time.Time.After(at) {
			at = mf.Time.Time.UTC()
		}
	}
	return at
}

// upTo keeps the managedFields entries written at or before at, without
// status writes: the object as it was right after the change.
func upTo(mfs []metav1.ManagedFieldsEntry, at time.Time) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, mf := range mfs {
		if mf.Subresource == "" && mf.Time != nil && !mf.Time.Time.After(at) {
			out = append(out, mf)
		}
	}
	return out
}

func withRevision(a map[string]string, n int64) map[string]string {
	out := make(map[string]string, len(a)+1)
	for k, v := range a {
		out[k] = v
	}
	out[history.RevisionAnnotation] = strconv.FormatInt(n, 10)
	return out
}

// ReadHistory reads an objects.yaml stream as the replay does, in
// observed order.
func ReadHistory(b []byte, name string) ([]scenario.Object, error) {
	return scenario.ReadObjects(bytes.NewReader(b), name)
}
