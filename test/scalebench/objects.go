// Command scalebench measures sentinel at cluster scale: it fills the test
// API server with Deployments and ReplicaSets shaped like a real
// cluster's, runs the real `sentinel run` against them (RSS, time to
// ready), and times engine.Poll over a synthetic observation of every
// workload (CPU per poll). `go run ./test/scalebench` under
// `scripts/testenv.sh exec` is the benchmark; docs/benchmarks.md has its
// figures. The same objects, built offline, feed the package's Go
// benchmarks.
package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sentinel-sre/sentinel/history"
)

// Shape is how many objects a run makes.
type Shape struct {
	Namespaces  int
	Deployments int // in all, spread over the namespaces
	ReplicaSets int // per Deployment, one of them current
}

func (s Shape) String() string {
	return fmt.Sprintf("%d Deployments × %d ReplicaSets in %d namespaces", s.Deployments, s.ReplicaSets, s.Namespaces)
}

// NamespaceNames lists the namespaces a run fills.
func (s Shape) NamespaceNames() []string {
	out := make([]string, s.Namespaces)
	for i := range out {
		out[i], _ = s.Workload(i)
	}
	return out
}

// Workload names Deployment i.
func (s Shape) Workload(i int) (namespace, name string) {
	return fmt.Sprintf("team-%03d", i%s.Namespaces), fmt.Sprintf("svc-%05d", i)
}

// image is the image revision rev of a workload runs.
func image(name string, rev int) string {
	return fmt.Sprintf("registry.example.com/shop/%s:1.%d.0-%08x", name, rev, rev*2654435761)
}

// hash stands in for the pod-template-hash the controller would compute:
// the controller matches an existing ReplicaSet by its template, not by
// the hash, so any stable value works.
func hash(name string, rev int) string {
	return strconv.FormatUint(uint64(len(name))*1_000_003+uint64(rev)*7919, 36)
}

// podTemplate is revision rev's template: one application container with
// the env, probes, resources and mounts a production service has.
func podTemplate(name string, rev int) corev1.PodTemplateSpec {
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "DATABASE_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name + "-db"}, Key: "password"}}},
	}
	for _, kv := range [][2]string{
		{"LOG_LEVEL", "info"}, {"LOG_FORMAT", "json"}, {"HTTP_PORT", "8080"}, {"GRPC_PORT", "9090"},
		{"DATABASE_HOST", name + "-db.internal"}, {"DATABASE_NAME", name}, {"CACHE_URL", "redis://redis.cache:6379/0"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.observability:4317"}, {"FEATURE_FLAGS", "checkout-v2,search-ranking"},
	} {
		env = append(env, corev1.EnvVar{Name: kv[0], Value: kv[1]})
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path,
			Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
			PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels: map[string]string{"app": name, "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop",
				"version": "1." + strconv.Itoa(rev)},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9102",
				"sidecar.istio.io/inject": "true"},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: name,
			Containers: []corev1.Container{{
				Name: "app", Image: image(name, rev), ImagePullPolicy: corev1.PullIfNotPresent,
				Args:  []string{"serve", "--config", "/etc/app/config.yaml"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "grpc", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
				Env:   env,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
				},
				ReadinessProbe: probe("/readyz"), LivenessProbe: probe("/healthz"),
				VolumeMounts:           []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app", ReadOnly: true}, {Name: "tmp", MountPath: "/tmp"}},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: new(bool), ReadOnlyRootFilesystem: ptr(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"}, DefaultMode: ptr(int32(0o644))}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst,
			TerminationGracePeriodSeconds: ptr(int64(30)), SchedulerName: corev1.DefaultSchedulerName,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true)},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// Deployment is workload i as `kubectl apply` creates it: paused (no
// ReplicaSet of its own until its ReplicaSets exist), no replicas (no
// pods), running revision n, with kubectl's last-applied-configuration.
func (s Shape) Deployment(i int) *appsv1.Deployment {
	ns, name := s.Workload(i)
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name, "team": ns}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(0)), Paused: true,
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:             podTemplate(name, s.ReplicaSets),
			RevisionHistoryLimit: ptr(int32(s.ReplicaSets)),
		},
	}
	applied, _ := json.Marshal(d)
	d.Annotations = map[string]string{lastApplied: string(applied)}
	return d
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// ReplicaSet is revision rev (1-based) of Deployment d, owned by it, with
// the annotations the Deployment controller writes; the last revision
// runs d's template.
func (s Shape) ReplicaSet(d *appsv1.Deployment, rev int) *appsv1.ReplicaSet {
	h := hash(d.Name, rev)
	tmpl := podTemplate(d.Name, rev)
	tmpl.Labels[history.PodTemplateHash] = h
	replicas := int32(0)
	return &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: d.Namespace, Name: d.Name + "-" + h,
			Labels: map[string]string{"app": d.Name, "app.kubernetes.io/name": d.Name, "app.kubernetes.io/part-of": "shop",
				"version": "1." + strconv.Itoa(rev), history.PodTemplateHash: h},
			Annotations: map[string]string{history.RevisionAnnotation: strconv.Itoa(rev),
				"deployment.kubernetes.io/desired-replicas": "0", "deployment.kubernetes.io/max-replicas": "1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name,
				UID: d.UID, Controller: ptr(true), BlockOwnerDeletion: ptr(true)}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": d.Name, history.PodTemplateHash: h}},
			Template: tmpl,
		},
	}
}
