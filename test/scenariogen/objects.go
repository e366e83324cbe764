package scenariogen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Names Kubernetes and Helm use.
const (
	annRevision        = "deployment.kubernetes.io/revision"
	annRevisionHistory = "deployment.kubernetes.io/revision-history"
	annDesired         = "deployment.kubernetes.io/desired-replicas"
	annMaxReplicas     = "deployment.kubernetes.io/max-replicas"
	annHelmName        = "meta.helm.sh/release-name"
	annHelmNamespace   = "meta.helm.sh/release-namespace"
	labelManagedBy     = "app.kubernetes.io/managed-by"
	labelHash          = "pod-template-hash"
	managerController  = "kube-controller-manager"
	managerHelm        = "helm"
)

// observation is one object as a watch shows it.
type observation struct {
	at  time.Time
	dep *appsv1.Deployment
	rs  *appsv1.ReplicaSet
}

func (o observation) meta() *metav1.ObjectMeta {
	if o.dep != nil {
		return &o.dep.ObjectMeta
	}
	return &o.rs.ObjectMeta
}

// writeObjects writes objects.yaml: every observation of every workload's
// Deployment and ReplicaSets, in observation order, with resource versions
// rising in that order.
func (s *Scenario) writeObjects(bw *bufio.Writer) (int, error) {
	var all []observation
	for _, w := range s.workloads {
		obs, err := w.observations()
		if err != nil {
			return 0, err
		}
		all = append(all, obs...)
	}
	slices.SortStableFunc(all, func(a, b observation) int { return a.at.Compare(b.at) })
	rv := 3_000_000 + mix(s.opts.Seed, 1, 2, 3)%1_000_000
	for i, o := range all {
		rv += 1 + mix(s.opts.Seed, 4, 5, uint64(i))%97
		o.meta().ResourceVersion = strconv.FormatUint(rv, 10)
		var obj any = o.dep
		if o.rs != nil {
			obj = o.rs
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return 0, fmt.Errorf("marshal %s: %w", o.meta().Name, err)
		}
		if i > 0 {
			if _, err := bw.WriteString("---\n"); err != nil {
				return 0, err
			}
		}
		if _, err := bw.Write(b); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// fieldsEntry is a managedFields entry being built up.
type fieldsEntry struct {
	manager, subresource string
	at                   time.Time
	fields               map[string]any
}

func (e fieldsEntry) encode() metav1.ManagedFieldsEntry {
	raw, _ := json.Marshal(e.fields) // maps of maps always marshal
	t := metav1.NewTime(e.at)
	return metav1.ManagedFieldsEntry{Manager: e.manager, Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "apps/v1", Time: &t, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: raw},
		Subresource: e.subresource}
}

// encodeFields orders entries as the API server does: by operation (here
// always Update), time, manager, then subresource.
func encodeFields(entries []fieldsEntry) []metav1.ManagedFieldsEntry {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b fieldsEntry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if c := strings.Compare(a.manager, b.manager); c != 0 {
			return c
		}
		return strings.Compare(a.subresource, b.subresource)
	})
	out := make([]metav1.ManagedFieldsEntry, len(sorted))
	for i, e := range sorted {
		out[i] = e.encode()
	}
	return out
}

// set builds a FieldsV1 set from keys: each argument is a path of keys
// separated by "|", e.g. "f:spec|f:replicas" (keys themselves
// hold slashes, as in "f:deployment.kubernetes.io/revision").
func set(paths ...string) map[string]any {
	root := map[string]any{}
	for _, p := range paths {
		cur := root
		for _, k := range strings.Split(p, "|") {
			next, ok := cur[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[k] = next
			}
			cur = next
		}
	}
	return root
}

// remove deletes path from a FieldsV1 set and prunes the maps left empty.
// It reports whether the set is now empty.
func remove(fields map[string]any, path []string) bool {
	if len(path) == 0 {
		return len(fields) == 0
	}
	next, ok := fields[path[0]].(map[string]any)
	if !ok {
		return len(fields) == 0
	}
	if len(path) == 1 || remove(next, path[1:]) {
		delete(fields, path[0])
	}
	return len(fields) == 0
}

func containerKey(name string) string {
	b, _ := json.Marshal(map[string]string{"name": name})
	return "k:" + string(b)
}

func imagePath(container string) []string {
	return []string{"f:spec", "f:template", "f:spec", "f:containers", containerKey(container), "f:image"}
}

// creatorFields is what the creating manager owns of a Deployment, as
// Helm's entry in a real cluster shows it.
func creatorFields(spec WorkloadSpec) map[string]any {
	c := "f:spec|f:template|f:spec|f:containers|" + containerKey(spec.Container) + "|"
	paths := []string{
		"f:metadata|f:labels|.", "f:metadata|f:labels|f:app",
		"f:spec|f:progressDeadlineSeconds", "f:spec|f:replicas", "f:spec|f:revisionHistoryLimit", "f:spec|f:selector",
		"f:spec|f:strategy|f:rollingUpdate|.", "f:spec|f:strategy|f:rollingUpdate|f:maxSurge",
		"f:spec|f:strategy|f:rollingUpdate|f:maxUnavailable", "f:spec|f:strategy|f:type",
		"f:spec|f:template|f:metadata|f:labels|.", "f:spec|f:template|f:metadata|f:labels|f:app",
		c + ".", c + "f:image", c + "f:imagePullPolicy", c + "f:name", c + "f:resources",
		c + "f:terminationMessagePath", c + "f:terminationMessagePolicy",
		"f:spec|f:template|f:spec|f:dnsPolicy", "f:spec|f:template|f:spec|f:restartPolicy",
		"f:spec|f:template|f:spec|f:schedulerName", "f:spec|f:template|f:spec|f:securityContext",
		"f:spec|f:template|f:spec|f:terminationGracePeriodSeconds",
	}
	if spec.Manager == managerHelm {
		paths = append(paths, "f:metadata|f:annotations|.", "f:metadata|f:annotations|f:"+annHelmName,
			"f:metadata|f:annotations|f:"+annHelmNamespace, "f:metadata|f:labels|f:"+labelManagedBy)
	}
	return set(paths...)
}

// deploymentStatusFields is what the controller owns through the status
// subresource, as in examples/kubectl-set-image.
func deploymentStatusFields() map[string]any {
	return set("f:metadata|f:annotations|f:"+annRevision, "f:status|f:observedGeneration",
		"f:status|f:replicas", "f:status|f:updatedReplicas", "f:status|f:readyReplicas", "f:status|f:availableReplicas")
}

func replicaSetFields(spec WorkloadSpec, rs *replicaSet, annotations map[string]string, ownerUID string) map[string]any {
	c := "f:spec|f:template|f:spec|f:containers|" + containerKey(spec.Container) + "|"
	paths := []string{
		"f:metadata|f:annotations|.",
		"f:metadata|f:labels|.", "f:metadata|f:labels|f:app", "f:metadata|f:labels|f:" + labelHash,
		"f:metadata|f:ownerReferences|.", `f:metadata|f:ownerReferences|k:{"uid":"` + ownerUID + `"}`,
		"f:spec|f:replicas", "f:spec|f:selector",
		"f:spec|f:template|f:metadata|f:labels|.", "f:spec|f:template|f:metadata|f:labels|f:app",
		"f:spec|f:template|f:metadata|f:labels|f:" + labelHash,
		c + ".", c + "f:image", c + "f:imagePullPolicy", c + "f:name", c + "f:resources",
		c + "f:terminationMessagePath", c + "f:terminationMessagePolicy",
		"f:spec|f:template|f:spec|f:dnsPolicy", "f:spec|f:template|f:spec|f:restartPolicy",
		"f:spec|f:template|f:spec|f:schedulerName", "f:spec|f:template|f:spec|f:securityContext",
		"f:spec|f:template|f:spec|f:terminationGracePeriodSeconds",
	}
	for k := range annotations {
		paths = append(paths, "f:metadata|f:annotations|f:"+k)
	}
	return set(paths...)
}

func podTemplate(spec WorkloadSpec, image, hash string) corev1.PodTemplateSpec {
	labels := map[string]string{"app": spec.Name}
	if hash != "" {
		labels[labelHash] = hash
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: spec.Container, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
			DNSPolicy: corev1.DNSClusterFirst, RestartPolicy: corev1.RestartPolicyAlways,
			SchedulerName: corev1.DefaultSchedulerName, SecurityContext: &corev1.PodSecurityContext{},
			TerminationGracePeriodSeconds: ptr(int64(corev1.DefaultTerminationGracePeriodSeconds)),
		},
	}
}

func ptr[T any](v T) *T { return &v }

// deploymentState is a Deployment as the API server holds it between
// observations.
type deploymentState struct {
	epoch   *epoch
	fields  []fieldsEntry // main-resource entries
	status  time.Time     // the controller's status entry
	updated int32         // status.updatedReplicas
}

// replicaSetState is a ReplicaSet as the API server holds it.
type replicaSetState struct {
	rs         *replicaSet
	generation int64
	replicas   int32
	revision   int64
	history    []int64
	at         time.Time // the controller's last write
}

// observations replays the workload's life through the Deployment
// controller: creation, then for each change the Deployment with its new
// template, the new (or reused) ReplicaSet scaled up, and once the new
// pods serve the old ReplicaSet scaled to zero and the Deployment's
// status caught up.
func (w *Workload) observations() ([]observation, error) {
	epochs, err := w.plan()
	if err != nil {
		return nil, err
	}
	spec := w.spec
	depUID := uid(w.s.opts.Seed, "Deployment", spec.Namespace, spec.Name)
	dep := deploymentState{epoch: &epochs[0], status: spec.Created,
		fields: []fieldsEntry{{manager: spec.Manager, at: spec.Created, fields: creatorFields(spec)}}}
	sets := map[*replicaSet]*replicaSetState{}
	var out []observation
	observeRS := func(st *replicaSetState) {
		out = append(out, observation{at: st.at, rs: w.replicaSet(st, depUID)})
	}
	observeDep := func() {
		out = append(out, observation{at: dep.status, dep: w.deployment(&dep, depUID)})
	}

	for i := range epochs {
		e := &epochs[i]
		if i > 0 {
			// The change: its manager takes the image over from whoever
			// owned it; an entry left owning nothing disappears.
			path := imagePath(spec.Container)
			kept := dep.fields[:0]
			for _, f := range dep.fields {
				if f.manager == e.manager || !remove(f.fields, path) {
					kept = append(kept, f)
				}
			}
			dep.fields = kept
			j := slices.IndexFunc(dep.fields, func(f fieldsEntry) bool { return f.manager == e.manager })
			if j < 0 {
				dep.fields = append(dep.fields, fieldsEntry{manager: e.manager, fields: map[string]any{}})
				j = len(dep.fields) - 1
			}
			dep.fields[j].at = e.at
			dep.fields[j].fields = merge(dep.fields[j].fields, set(strings.Join(path, "|")))
			dep.epoch, dep.status, dep.updated = e, e.at, 0
		}
		observeDep()

		st := sets[e.rs]
		if st == nil {
			st = &replicaSetState{rs: e.rs}
			sets[e.rs] = st
		} else {
			st.history = append(st.history, st.revision)
		}
		st.generation++
		st.replicas, st.revision, st.at = spec.Replicas, e.revision, e.at
		if i > 0 && spec.RollingStep > 0 {
			w.rollSteps(e, st, sets[epochs[i-1].rs], observeRS)
		} else {
			observeRS(st)
			if i > 0 {
				old := sets[epochs[i-1].rs]
				old.generation++
				old.replicas, old.at = 0, e.from
				observeRS(old)
			}
		}
		dep.status, dep.updated = e.from.Add(w.stagger(spec.Replicas-1)), spec.Replicas
		observeDep()
	}
	return out, nil
}

// rollSteps scales a rolling update's ReplicaSets step by step: the new
// one up a pod before each of its pods serves, the old one down as each
// old pod stops.
func (w *Workload) rollSteps(e *epoch, cur, old *replicaSetState, observe func(*replicaSetState)) {
	for j := range w.spec.Replicas {
		cur.generation++
		cur.replicas = j + 1
		if j > 0 {
			cur.at = e.from.Add(w.stagger(j - 1))
		}
		observe(cur)
		old.generation++
		old.replicas, old.at = w.spec.Replicas-j-1, e.from.Add(w.stagger(j))
		observe(old)
	}
}

// merge adds b's keys into a.
func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		av, ok := a[k].(map[string]any)
		bv, _ := v.(map[string]any)
		if ok {
			a[k] = merge(av, bv)
		} else {
			a[k] = v
		}
	}
	return a
}

func (w *Workload) deployment(st *deploymentState, depUID string) *appsv1.Deployment {
	spec, e := w.spec, st.epoch
	meta := w.objectMeta(spec.Name, depUID, map[string]string{annRevision: strconv.FormatInt(e.revision, 10)})
	meta.Generation = e.generation
	if spec.Manager == managerHelm {
		meta.Labels[labelManagedBy] = "Helm"
	}
	fields := append(slices.Clone(st.fields), fieldsEntry{manager: managerController, subresource: "status",
		at: st.status, fields: deploymentStatusFields()})
	meta.ManagedFields = encodeFields(fields)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(spec.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": spec.Name}},
			Template: podTemplate(spec, e.rs.image, ""),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr(intstr.FromString("25%")), MaxUnavailable: ptr(intstr.FromString("25%"))}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
		// The generator's pods serve from the moment they exist (no
		// readiness delay), so every replica is available throughout.
		Status: appsv1.DeploymentStatus{ObservedGeneration: e.generation, Replicas: spec.Replicas,
			UpdatedReplicas: st.updated, ReadyReplicas: spec.Replicas, AvailableReplicas: spec.Replicas},
	}
}

func (w *Workload) replicaSet(st *replicaSetState, depUID string) *appsv1.ReplicaSet {
	spec, rs := w.spec, st.rs
	ann := map[string]string{
		annRevision: strconv.FormatInt(st.revision, 10),
		annDesired:  strconv.Itoa(int(spec.Replicas)),
		// maxSurge 25%, rounded up.
		annMaxReplicas: strconv.Itoa(int(spec.Replicas + (spec.Replicas*25+99)/100)),
	}
	if len(st.history) > 0 {
		h := make([]string, len(st.history))
		for i, r := range st.history {
			h[i] = strconv.FormatInt(r, 10)
		}
		ann[annRevisionHistory] = strings.Join(h, ",")
	}
	meta := w.objectMeta(rs.name, rs.uid, ann)
	meta.CreationTimestamp = metav1.NewTime(rs.created)
	meta.Generation = st.generation
	meta.Labels[labelHash] = rs.hash
	meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: spec.Name,
		UID: types.UID(depUID), Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}
	meta.ManagedFields = encodeFields([]fieldsEntry{
		{manager: managerController, at: st.at, fields: replicaSetFields(spec, rs, meta.Annotations, depUID)},
		{manager: managerController, subresource: "status", at: st.at,
			fields: set("f:status|f:observedGeneration", "f:status|f:replicas")},
	})
	return &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: meta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(st.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": spec.Name, labelHash: rs.hash}},
			Template: podTemplate(spec, rs.image, rs.hash),
		},
		Status: appsv1.ReplicaSetStatus{Replicas: st.replicas, ObservedGeneration: st.generation},
	}
}

// objectMeta is the metadata a Deployment and its ReplicaSets share: the
// app label, and Helm's release annotations when Helm made it.
func (w *Workload) objectMeta(name, id string, annotations map[string]string) metav1.ObjectMeta {
	spec := w.spec
	if spec.Manager == managerHelm {
		annotations[annHelmName] = spec.Name
		annotations[annHelmNamespace] = spec.Namespace
	}
	return metav1.ObjectMeta{
		Name: name, Namespace: spec.Namespace, UID: types.UID(id),
		CreationTimestamp: metav1.NewTime(spec.Created),
		Labels:            map[string]string{"app": spec.Name},
		Annotations:       annotations,
	}
}
