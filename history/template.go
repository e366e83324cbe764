package history

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The history keeps every ReplicaSet's template for rollbacks and
// attribution, and every Deployment's for attribution, but reads one only
// when a rollback is decided or a change is attributed: 50,000 of them decoded would take
// most of sentinel's memory. So each is kept as its JSON, deflated
// against a dictionary of what every pod template's JSON repeats (the
// keys, and the values the API server defaults): about a tenth of the
// decoded template (docs/benchmarks.md#watching-50000-replicasets).

// templateDictionary is the JSON of a pod template with the fields
// templates usually set and the API server's defaults.
func templateDictionary() []byte {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz",
		Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
		InitialDelaySeconds: 1, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	yes, no := true, false
	grace := int64(30)
	mode := int32(420)
	c := corev1.Container{
		Name: "app", Image: "registry/app:1.0.0", Command: []string{"/app"}, Args: []string{"--config"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{{Name: "NAME", Value: "value"},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "secret"}, Key: "key"}}}},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
		VolumeMounts:           []corev1.VolumeMount{{Name: "config", ReadOnly: true, MountPath: "/etc/config"}},
		LivenessProbe:          probe,
		ReadinessProbe:         probe,
		TerminationMessagePath: corev1.TerminationMessagePathDefault, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsNonRoot: &yes, ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no},
	}
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"app": "app", "app.kubernetes.io/name": "app", "app.kubernetes.io/instance": "app", "version": "1"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "sidecar.istio.io/inject": "true", "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
		},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "config"}, DefaultMode: &mode}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			InitContainers: []corev1.Container{c}, Containers: []corev1.Container{c},
			RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: &grace,
			DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "app", DeprecatedServiceAccount: "app",
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: new(int64), FSGroup: new(int64)},
			SchedulerName:   corev1.DefaultSchedulerName,
		},
	}
	b, _ := json.Marshal(t) // a PodTemplateSpec always marshals
	return b
}

// compress deflates a template's JSON.
func (t *Tracker) compress(b []byte) []byte {
	var out bytes.Buffer
	if t.deflate == nil {
		t.dict = templateDictionary()
		t.deflate, _ = flate.NewWriterDict(&out, flate.BestCompression, t.dict) // a valid level
	} else {
		t.deflate.Reset(&out) // keeps the dictionary
	}
	_, _ = t.deflate.Write(b) // a bytes.Buffer never fails
	_ = t.deflate.Close()
	return bytes.Clone(out.Bytes())
}

// decodeTemplate decodes what compress wrote with dict.
func decodeTemplate(b, dict []byte) corev1.PodTemplateSpec {
	var tmpl corev1.PodTemplateSpec
	// What compress wrote of encodeTemplate's JSON always reads back.
	_ = json.NewDecoder(flate.NewReaderDict(bytes.NewReader(b), dict)).Decode(&tmpl)
	return tmpl
}

// images lists a pod's images, init containers first (named "init:NAME").
func images(spec *corev1.PodSpec) []Image {
	out := make([]Image, 0, len(spec.InitContainers)+len(spec.Containers))
	for _, c := range spec.InitContainers {
		out = append(out, Image{Container: "init:" + c.Name, Image: c.Image})
	}
	for _, c := range spec.Containers {
		out = append(out, Image{Container: c.Name, Image: c.Image})
	}
	return out
}

// Names returns the image references alone, in order.
func Names(imgs []Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.Image
	}
	return out
}

// SameImages reports whether two image sets are equal, container by
// container.
func SameImages(a, b []Image) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]string, len(a))
	for _, i := range a {
		m[i.Container] = i.Image
	}
	for _, i := range b {
		if img, ok := m[i.Container]; !ok || img != i.Image {
			return false
		}
	}
	return true
}

// Fingerprint identifies a pod template, ignoring the pod-template-hash
// label, so a Deployment's template and its ReplicaSet's compare equal.
func Fingerprint(t *corev1.PodTemplateSpec) string {
	_, fp := templateJSON(t)
	return fp
}

// templateJSON returns a template's JSON without the pod-template-hash
// label, and its fingerprint.
func templateJSON(t *corev1.PodTemplateSpec) ([]byte, string) {
	if _, ok := t.Labels[PodTemplateHash]; ok {
		c := t.DeepCopy()
		delete(c.Labels, PodTemplateHash)
		t = c
	}
	if len(t.Labels) == 0 && t.Labels != nil {
		c := t.DeepCopy()
		c.Labels = nil
		t = c
	}
	return encodeTemplate(t)
}

// encodeTemplate returns a template's JSON and its fingerprint, the
// JSON's hash; t must not carry the pod-template-hash label.
func encodeTemplate(t *corev1.PodTemplateSpec) ([]byte, string) {
	b, _ := json.Marshal(t) // a PodTemplateSpec always marshals
	h := fnv.New64a()
	h.Write(b)
	return b, strconv.FormatUint(h.Sum64(), 16)
}
