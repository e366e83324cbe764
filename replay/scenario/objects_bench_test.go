package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// benchObjects is how many objects the generated objects.yaml of
// BenchmarkReadObjects14400 holds: a day of changes to 4,800
// Deployments, each observed as a Deployment, its new ReplicaSet and the
// Deployment again once rolled out.
const benchObjects = 14400

// generatedObjects returns n kubectl-shaped objects (with managedFields,
// as --show-managed-fields prints them) in observed order, each with a
// numeric resourceVersion.
func generatedObjects(n int) []any {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var out []any
	for i := 0; len(out) < n; i++ {
		ns, name := fmt.Sprintf("team-%02d", i%20), fmt.Sprintf("svc-%04d", i)
		at := start.Add(time.Duration(i) * 18 * time.Second)
		hash := fmt.Sprintf("%010x", uint32(i)*2654435761)
		image := fmt.Sprintf("registry.example/fleet/%s:1.%d.0", name, i%7)
		meta := func(objName string, rv int, when time.Time, manager string, fields string) metav1.ObjectMeta {
			t := metav1.NewTime(when)
			return metav1.ObjectMeta{Name: objName, Namespace: ns, ResourceVersion: fmt.Sprint(rv),
				UID:               types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", rv)),
				CreationTimestamp: metav1.NewTime(start.Add(-time.Hour)), Generation: 2,
				Labels:      map[string]string{"app": name, "app.kubernetes.io/managed-by": "Helm"},
				Annotations: map[string]string{"deployment.kubernetes.io/revision": "2", "meta.helm.sh/release-name": name},
				ManagedFields: []metav1.ManagedFieldsEntry{
					{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1",
						Time: &t, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}},
					{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1",
						Time: &t, FieldsType: "FieldsV1", Subresource: "status",
						FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:availableReplicas":{},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{}}}`)}},
				}}
		}
		tmpl := corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image,
				ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePath: "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile}},
				RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, SchedulerName: "default-scheduler"},
		}
		two := int32(2)
		depFields := `{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},` +
			`"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"` + name + `\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`
		dep := func(rv int, when time.Time) *appsv1.Deployment {
			return &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
				ObjectMeta: meta(name, rv, when, "kube-controller-manager", depFields),
				Spec: appsv1.DeploymentSpec{Replicas: &two, Template: tmpl,
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}}
		}
		rsTmpl := *tmpl.DeepCopy()
		rsTmpl.Labels["pod-template-hash"] = hash
		ctrl := true
		rsMeta := meta(name+"-"+hash, 3*i+2, at, "kube-controller-manager", `{"f:metadata":{"f:ownerReferences":{}}}`)
		rsMeta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name,
			UID: "00000000-0000-4000-8000-000000000000", Controller: &ctrl}}
		rs := &appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
			ObjectMeta: rsMeta, Spec: appsv1.ReplicaSetSpec{Replicas: &two, Template: rsTmpl,
				Selector: &metav1.LabelSelector{MatchLabels: rsTmpl.Labels}},
			Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 1}}
		out = append(out, dep(3*i+1, at), rs, dep(3*i+3, at.Add(10*time.Second)))
	}
	return out[:n]
}

// objectsFile writes objects in one of the forms kubectl prints.
func objectsFile(tb testing.TB, form string, objs []any) []byte {
	tb.Helper()
	var b bytes.Buffer
	switch form {
	case "yaml-stream": // kubectl get -w -o yaml
		for i, o := range objs {
			if i > 0 {
				b.WriteString("---\n")
			}
			b.Write(mustYAML(tb, o))
		}
	case "json-stream": // kubectl get -w -o json
		for _, o := range objs {
			b.Write(mustJSON(tb, o))
			b.WriteByte('\n')
		}
	case "watch-events": // kubectl get -w --output-watch-events -o json
		for _, o := range objs {
			b.Write(mustJSON(tb, map[string]any{"type": "MODIFIED", "object": o}))
			b.WriteByte('\n')
		}
	case "list": // kubectl get deploy,rs -o yaml
		b.Write(mustYAML(tb, map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}))
	default:
		tb.Fatalf("no form %q", form)
	}
	return b.Bytes()
}

func mustYAML(tb testing.TB, v any) []byte {
	b, err := yaml.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustJSON(tb testing.TB, v any) []byte {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var objectForms = []string{"yaml-stream", "json-stream", "watch-events", "list"}

// BenchmarkReadObjects14400 reads a generated objects.yaml of 14,400
// objects in each form kubectl prints (docs/benchmarks.md).
func BenchmarkReadObjects14400(b *testing.B) {
	objs := generatedObjects(benchObjects)
	for _, form := range objectForms {
		b.Run(form, func(b *testing.B) {
			data := objectsFile(b, form, objs)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				got, err := ReadObjects(bytes.NewReader(data), "objects.yaml")
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != benchObjects {
					b.Fatalf("%d objects, want %d", len(got), benchObjects)
				}
			}
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system: on a
// shared machine a steadier figure than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestReadObjectsLinear: reading objects.yaml takes time in proportion
// to its size. A file of 8 times the objects must take less than 16
// times the CPU time (a linear reader takes about 8; one counting each
// object's line from the start of the file took 40).
func TestReadObjectsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("times reads of 2,000 and 16,000 objects")
	}
	// Small objects padded with text that is cheap to decode: the time
	// a quadratic step adds grows with the bytes before each object.
	pad := strings.Repeat("x", 3000)
	forms := map[string]func(i int) string{
		"yaml-stream": func(i int) string {
			return fmt.Sprintf("---\n# %s\n%s", pad, obj{name: fmt.Sprintf("svc-%d", i)})
		},
		"json-stream": func(i int) string {
			return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"svc-%d","namespace":"shop",`+
				`"creationTimestamp":"2026-03-09T16:00:00Z","annotations":{"pad":%q}},`+
				`"spec":{"template":{"spec":{"containers":[{"name":"c","image":"registry.example/c:1"}]}}}}`+"\n", i, pad)
		},
	}
	for name, doc := range forms {
		t.Run(name, func(t *testing.T) {
			// The least CPU time of three reads of n objects: CPU time,
			// not wall time, since the machine may be busy.
			cost := func(n int) time.Duration {
				var b strings.Builder
				for i := range n {
					b.WriteString(doc(i))
				}
				data := []byte(b.String())
				best := time.Duration(math.MaxInt64)
				for range 3 {
					began := cpuTime()
					objs, err := ReadObjects(bytes.NewReader(data), "objects.yaml")
					best = min(best, cpuTime()-began)
					if err != nil || len(objs) != n {
						t.Fatalf("%d objects, error %v; want %d", len(objs), err, n)
					}
				}
				return best
			}
			small, large := cost(2000), cost(16000)
			ratio := float64(large) / float64(small)
			t.Logf("CPU time: 2,000 objects %s, 16,000 %s (%.1f times)", small, large, ratio)
			if ratio > 16 {
				t.Errorf("16,000 objects took %.0f times the CPU time of 2,000 (%s, %s): reading is not linear",
					ratio, large, small)
			}
		})
	}
}

// TestReadObjectsFirstError: documents are decoded in parallel, but the
// error is always that of the first failing document in the file.
func TestReadObjectsFirstError(t *testing.T) {
	var b strings.Builder
	lines := map[int]int{} // document → its first line
	line := 1
	for i := range 400 {
		o := obj{name: fmt.Sprintf("svc-%d", i)}
		switch i {
		case 41:
			o.noContainers = true
		case 42, 250, 399:
			o.kind = "StatefulSet"
		}
		lines[i] = line
		doc := o.String() + "---\n"
		b.WriteString(doc)
		line += strings.Count(doc, "\n")
	}
	for range 20 {
		_, err := ReadObjects(strings.NewReader(b.String()), "objects.yaml")
		want := fmt.Sprintf("objects.yaml:%d: Deployment shop/svc-41: spec.template.spec.containers is empty", lines[41])
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %s", err, want)
		}
	}
}
