package kube

import (
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/history"
)

// What the history reads, and so what Trim keeps:
//
//   - of a Deployment: name, namespace, uid, resourceVersion, generation,
//     annotations (the revision, sentinel's opt-out and rollback marks),
//     spec.replicas, spec.paused, spec.template whole (its fingerprint
//     must equal its ReplicaSet's), status.observedGeneration and
//     status.availableReplicas, and the managedFields entries that own
//     something of spec.template (who made a template change);
//   - of a ReplicaSet: name, namespace, resourceVersion, the
//     deployment.kubernetes.io/revision annotation, the pod-template-hash
//     label, the controller owner reference, spec.replicas and
//     spec.template whole (the rollback target).
//
// A cluster of 5,000 Deployments with 10 ReplicaSets each is mostly
// ReplicaSet managedFields, status and annotations, and Deployment
// last-applied-configuration annotations and managedFields; see
// docs/benchmarks.md#watching-50000-replicasets.

// lastApplied is kubectl apply's copy of the whole manifest: as large as
// the object, and never read.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Trim drops what sentinel never reads from an object before the store
// hands it to the history, which bounds memory on large clusters. It has
// the signature of client-go's cache.TransformFunc. It changes the object
// it is given, which the reflector has just decoded and nobody else
// holds; trimming twice is trimming once.
func Trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		trimDeployment(o)
	case *appsv1.ReplicaSet:
		trimReplicaSet(o)
	}
	return obj, nil
}

func trimDeployment(d *appsv1.Deployment) {
	if _, ok := d.Annotations[lastApplied]; ok {
		delete(d.Annotations, lastApplied)
	}
	d.OwnerReferences = nil
	d.ManagedFields = templateOwners(d.ManagedFields)
	d.Spec.Strategy = appsv1.DeploymentStrategy{}
	d.Status.Conditions = nil
}

func trimReplicaSet(rs *appsv1.ReplicaSet) {
	rs.ManagedFields = nil
	rs.Status = appsv1.ReplicaSetStatus{}
	rs.Spec.Selector = nil
	rs.Annotations = keepOnly(rs.Annotations, history.RevisionAnnotation)
	rs.Labels = keepOnly(rs.Labels, history.PodTemplateHash)
	var refs []metav1.OwnerReference
	for _, ref := range rs.OwnerReferences {
		if ref.Kind == "Deployment" && ref.Controller != nil && *ref.Controller {
			refs = append(refs, metav1.OwnerReference{APIVersion: ref.APIVersion, Kind: ref.Kind,
				Name: ref.Name, UID: ref.UID, Controller: ref.Controller})
		}
	}
	rs.OwnerReferences = refs
}

// keepOnly returns m with key alone, nil when m lacks it.
func keepOnly(m map[string]string, key string) map[string]string {
	v, ok := m[key]
	if !ok {
		return nil
	}
	if len(m) == 1 {
		return m
	}
	return map[string]string{key: v}
}

// templateOwners keeps the managedFields entries that own part of
// spec.template, each cut down to that part: attribution asks only who
// owns a template field (history.parseOwners skips subresource entries,
// and an entry owning no template field can never be named). An entry
// that cannot be read is kept whole, for history to judge.
func templateOwners(mfs []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, mf := range mfs {
		if mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		var f struct {
			Spec *struct {
				Template json.RawMessage `json:"f:template"`
			} `json:"f:spec"`
		}
		if err := json.Unmarshal(mf.FieldsV1.Raw, &f); err != nil {
			out = append(out, mf)
			continue
		}
		if f.Spec == nil || f.Spec.Template == nil {
			continue
		}
		raw, _ := json.Marshal(map[string]map[string]json.RawMessage{"f:spec": {"f:template": f.Spec.Template}})
		mf.FieldsV1 = &metav1.FieldsV1{Raw: raw}
		out = append(out, mf)
	}
	return out
}
