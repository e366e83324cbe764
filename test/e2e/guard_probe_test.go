package e2e

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/kube"
	"github.com/sentinel-sre/sentinel/rollback"
)

// probePolicy is a Warn-mode policy that fails every Deployment write in
// ns and so makes the API server tell the client, in a warning, what the
// guard's CEL sees: the operation and request.options.fieldManager — the
// very expression the guard's "manager" variable uses.
func probePolicy(ns string) []byte {
	return []byte(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: sentinel-probe-` + ns + `
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [apps]
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [deployments, deployments/scale]
  validations:
    - expression: "false"
      messageExpression: >-
        'probe: op=' + request.operation + ' sub=' + (has(request.subResource) ? request.subResource : '') + ' fieldManager=' +
        (has(request.options) && request.options != null && has(request.options.fieldManager)
        ? string(request.options.fieldManager) : '<none>')
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: sentinel-probe-` + ns + `
spec:
  policyName: sentinel-probe-` + ns + `
  validationActions: [Warn]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ` + ns + `
`)
}

// Helm logs warnings quoted; kubectl prints them as they are.
var probeLine = regexp.MustCompile(`probe: op=(\S+) sub=(\S*) fieldManager=([^\s"]+)`)

// probed is what the probe saw for one command.
type probed struct {
	Command, Operation, SubResource, FieldManager string
}

// warnings collects the API server's warnings to a client-go client.
type warnings struct {
	mu   sync.Mutex
	text []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

// The field manager every way of changing a Deployment sends, as the
// API server's admission sees it: the evidence behind the guard's rule
// (docs/admission-guard.md has this table).
func TestGuardProbeFieldManagers(t *testing.T) {
	c := needCluster(t)
	ns := c.namespace(t, "e2e-guard-probe")
	c.installProbe(t, ns)
	var got []probed
	for _, s := range probeSteps(t, c, ns) {
		out, err := s.run()
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.command, err, out)
		}
		seen := map[probed]bool{}
		for _, m := range probeLine.FindAllStringSubmatch(out, -1) {
			seen[probed{Command: s.command, Operation: m[1], SubResource: m[2], FieldManager: m[3]}] = true
		}
		if len(seen) == 0 {
			t.Errorf("%s: the probe saw no write:\n%s", s.command, out)
		}
		var rows []probed
		for p := range seen {
			rows = append(rows, p)
		}
		sort.Slice(rows, func(i, j int) bool {
			return rows[i].Operation+rows[i].FieldManager < rows[j].Operation+rows[j].FieldManager
		})
		got = append(got, rows...)
	}
	want := []probed{
		{"helm install", "CREATE", "", "helm"},
		{"kubectl set image", "UPDATE", "", "kubectl-set"},
		{"kubectl patch", "UPDATE", "", "kubectl-patch"},
		{"kubectl edit", "UPDATE", "", "kubectl-edit"},
		{"kubectl apply --server-side", "UPDATE", "", "kubectl"},
		{"kubectl apply", "UPDATE", "", "kubectl-client-side-apply"},
		{"kubectl rollout undo", "UPDATE", "", "<none>"},
		{"kubectl scale", "UPDATE", "scale", "<none>"},
		{"helm upgrade", "UPDATE", "", "helm"},
		{"helm rollback", "UPDATE", "", "helm"},
		{"kubectl create", "CREATE", "", "kubectl-create"},
		{"sentinel's rollback", "UPDATE", "", "sentinel"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what admission saw (-want +got):\n%s", diff)
	}
}

// installProbe installs the probe for ns and waits until it is in force.
func (c *cluster) installProbe(t *testing.T, ns string) {
	t.Helper()
	c.applyFile(t, probePolicy(ns))
	t.Cleanup(func() {
		_, _ = c.attempt(t, nil, "kubectl", "delete", "--ignore-not-found",
			"validatingadmissionpolicybinding/sentinel-probe-"+ns, "validatingadmissionpolicy/sentinel-probe-"+ns)
	})
	// In force once a dry-run create is warned.
	eventually(t, 30*time.Second, "the probe in force", func() bool {
		out, _ := c.attempt(t, nil, "kubectl", "-n", ns, "create", "deployment", "dry", "--image=x", "--dry-run=server")
		return probeLine.MatchString(out)
	})
}

// step is one way of writing a Deployment.
type step struct {
	command string
	run     func() (string, error)
}

// probeSteps are the writes the probe watches, in order: each leaves
// demo where the next expects it.
func probeSteps(t *testing.T, c *cluster, ns string) []step {
	t.Helper()
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: ` + ns + `}
spec:
  replicas: 2
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec: {containers: [{name: app, image: IMAGE, imagePullPolicy: IfNotPresent}]}
`
	apply := func(image string, flags ...string) (string, error) {
		f := t.TempDir() + "/demo.yaml"
		if err := writeFile(f, strings.ReplaceAll(manifest, "IMAGE", image)); err != nil {
			return "", err
		}
		return c.attempt(t, nil, "kubectl", append([]string{"apply", "-f", f}, flags...)...)
	}
	kubectl := func(args ...string) func() (string, error) {
		return func() (string, error) { return c.attempt(t, nil, "kubectl", append([]string{"-n", ns}, args...)...) }
	}
	helm := func(args ...string) func() (string, error) {
		return func() (string, error) { return c.attempt(t, nil, c.helm, append(args, "--namespace", ns)...) }
	}
	return []step{
		{"helm install", helm("install", "demo", chart(), "--set", "image=registry.example/demo:v1")},
		{"kubectl set image", kubectl("set", "image", "deployment/demo", "app=registry.example/demo:v2")},
		{"kubectl patch", kubectl("patch", "deployment", "demo", "-p",
			`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/demo:v3"}]}}}}`)},
		{"kubectl edit", func() (string, error) {
			return c.attempt(t, []string{"KUBE_EDITOR=" + editor(t, "demo:v3", "demo:v4")}, "kubectl", "-n", ns, "edit", "deployment", "demo")
		}},
		{"kubectl apply --server-side", func() (string, error) {
			return apply("registry.example/demo:v5", "--server-side", "--force-conflicts")
		}},
		{"kubectl apply", func() (string, error) { return apply("registry.example/demo:v6") }},
		{"kubectl rollout undo", kubectl("rollout", "undo", "deployment/demo")},
		{"kubectl scale", kubectl("scale", "deployment/demo", "--replicas=3")},
		{"helm upgrade", func() (string, error) {
			out, err := helm("upgrade", "demo", chart(), "--set", "image=registry.example/demo:v7")()
			// sentinel's rollback below goes back to this ReplicaSet: wait
			// for the controller to create it before the next change.
			if err == nil {
				c.waitReplicaSet(t, ns, "registry.example/demo:v7")
			}
			return out, err
		}},
		{"helm rollback", helm("rollback", "demo", "1")},
		{"kubectl create", kubectl("create", "deployment", "other", "--image=registry.example/other:v1")},
		{"sentinel's rollback", func() (string, error) { return sentinelRollback(t, c, ns) }},
	}
}

// waitReplicaSet waits until a ReplicaSet of demo runs image.
func (c *cluster) waitReplicaSet(t *testing.T, ns, image string) {
	t.Helper()
	eventually(t, 60*time.Second, "a ReplicaSet of demo running "+image, func() bool {
		rss, err := c.client.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, rs := range rss.Items {
			if rs.Spec.Template.Spec.Containers[0].Image == image {
				return true
			}
		}
		return false
	})
}

// sentinelRollback rolls demo back with sentinel's own
// executor (to helm upgrade's image) and returns the warnings the API
// server sent it.
func sentinelRollback(t *testing.T, c *cluster, ns string) (string, error) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(c.rest)
	cfg.WarningHandler = w
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()
	if err := rollbackTo(ctx, t, c, client, ns, "registry.example/demo:v7", "e2e-probe"); err != nil {
		return "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.text, "\n"), nil
}

// rollbackTo writes sentinel's rollback of demo to its ReplicaSet running
// image with the kube package's executor, as the daemon does, for
// incident id.
func rollbackTo(ctx context.Context, t *testing.T, c *cluster, client kubernetes.Interface, ns, image, id string) error {
	t.Helper()
	d := c.deployment(t, ns)
	rss, err := c.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, rs := range rss.Items {
		if rs.Spec.Template.Spec.Containers[0].Image != image || rs.OwnerReferences[0].Name != "demo" {
			continue
		}
		tpl := *rs.Spec.Template.DeepCopy()
		delete(tpl.Labels, history.PodTemplateHash)
		plan := &rollback.Plan{Workload: demo(ns), Incident: id, ResourceVersion: d.ResourceVersion,
			FromFingerprint: history.Fingerprint(&d.Spec.Template), ReplicaSet: rs.Name, Template: tpl, ToRevision: 1}
		return kube.NewExecutor(client, clock.RealClock{}, zap.NewNop(), 30*time.Second).Rollback(ctx, plan)
	}
	t.Fatalf("no ReplicaSet of demo runs %s", image)
	return nil
}
