// Package deploy holds the manifests a cluster admin applies; its tests
// check them offline (kustomize build, safety settings) and against the
// real test API server (server-side dry-run).
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
)

func build(t *testing.T) [][]byte {
	t.Helper()
	out, err := exec.Command("kubectl", "kustomize", "base").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/base: %v\n%s", err, out)
	}
	var docs [][]byte
	for _, d := range bytes.Split(out, []byte("\n---\n")) {
		docs = append(docs, d)
	}
	return docs
}

func TestConfigMapIsTheRepositoryConfig(t *testing.T) {
	root, err := os.ReadFile(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	here, err := os.ReadFile(filepath.Join("base", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, here) {
		t.Fatal("deploy/base/config.yaml differs from config.yaml: cp config.yaml deploy/base/config.yaml")
	}
	if _, err := config.Load(filepath.Join("base", "config.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestManifests(t *testing.T) {
	kinds := map[string]int{}
	for _, doc := range build(t) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		kinds[meta.Kind]++
		switch meta.Kind {
		case "Secret":
			t.Error("the manifests ship a Secret; the routing key is referenced, never shipped")
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.Unmarshal(doc, &d); err != nil {
				t.Fatal(err)
			}
			checkDeployment(t, &d)
		case "ClusterRole", "Role":
			var r rbacv1.ClusterRole
			if err := yaml.Unmarshal(doc, &r); err != nil {
				t.Fatal(err)
			}
			for _, rule := range r.Rules {
				for _, res := range rule.Resources {
					if res == "secrets" || res == "*" || res == "pods" {
						t.Errorf("%s %s grants %s", meta.Kind, r.Name, res)
					}
				}
				for _, v := range rule.Verbs {
					if v == "*" || v == "delete" || (v == "update" && meta.Kind == "ClusterRole") {
						t.Errorf("%s %s grants verb %s", meta.Kind, r.Name, v)
					}
				}
			}
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
		"RoleBinding", "Deployment", "PodDisruptionBudget", "ConfigMap", "Service"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s objects, want 1", kinds[k], k)
		}
	}
}

func checkDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	s := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Error("want 2 replicas")
	}
	if s.Affinity == nil || s.Affinity.PodAntiAffinity == nil {
		t.Error("no pod anti-affinity")
	}
	if s.SecurityContext == nil || s.SecurityContext.RunAsNonRoot == nil || !*s.SecurityContext.RunAsNonRoot {
		t.Error("pod may run as root")
	}
	c := s.Containers[0]
	yes, no := true, false
	wantSC := &corev1.SecurityContext{ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	if diff := cmp.Diff(wantSC, c.SecurityContext); diff != "" {
		t.Errorf("container securityContext (-want +got):\n%s", diff)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("probes missing")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("requests and limits missing")
	}
	var key *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == "PAGERDUTY_ROUTING_KEY" && e.ValueFrom != nil {
			key = e.ValueFrom.SecretKeyRef
		}
	}
	if key == nil || key.Name == "" {
		t.Error("no Secret reference for the PagerDuty routing key")
	}
	if !strings.Contains(strings.Join(c.Args, " "), "run --config /etc/sentinel/config.yaml") {
		t.Errorf("args %v", c.Args)
	}
}

// The manifests as the real API server sees them (server-side dry-run).
func TestServerSideDryRun(t *testing.T) {
	kc := os.Getenv("SENTINEL_TEST_KUBECONFIG")
	if kc == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal("SENTINEL_TEST_KUBECONFIG is not set")
		}
		t.Skip("no test cluster: run under scripts/testenv.sh exec")
	}
	run := func(args ...string) string {
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kc}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The namespace must exist for its objects to be dry-run.
	run("apply", "-f", filepath.Join("base", "namespace.yaml"))
	out := run("apply", "--dry-run=server", "-k", "base")
	for _, want := range []string{"deployment.apps/sentinel", "poddisruptionbudget.policy/sentinel",
		"clusterrole.rbac.authorization.k8s.io/sentinel", "serviceaccount/sentinel"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %s:\n%s", want, out)
		}
	}
}
