package charts

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/sentinel-sre/sentinel/config"
)

func TestLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", allOptions}} {
		t.Run(strings.Join(append([]string{"lint"}, args...), " "), func(t *testing.T) {
			out := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

// leaves lists the dotted paths of a values tree's keys down to its
// leaves; an empty map or list is a leaf.
func leaves(prefix string, v any, out map[string]bool) {
	out[prefix] = true
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return
	}
	for k, sub := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leaves(p, sub, out)
	}
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// The test values file really sets every option.
func TestAllOptionsSetsEveryValue(t *testing.T) {
	defaults, all := map[string]bool{}, map[string]bool{}
	leaves("", readYAML(t, filepath.Join(chartDir, "values.yaml")), defaults)
	leaves("", readYAML(t, allOptions), all)
	var missing []string
	for k := range defaults {
		if !all[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("values.yaml keys %s does not set (-want +got):\n%s", allOptions, diff)
	}
}

// values.yaml's config is config.yaml, key for key and value for value.
func TestValuesMirrorConfig(t *testing.T) {
	values := readYAML(t, filepath.Join(chartDir, "values.yaml"))
	repo := readYAML(t, filepath.Join("..", "config.yaml"))
	if diff := cmp.Diff(repo, values["config"]); diff != "" {
		t.Errorf("charts/sentinel/values.yaml config differs from config.yaml (-config.yaml +values):\n%s", diff)
	}
}

func renderedConfig(t *testing.T, objs []object) []byte {
	t.Helper()
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(only(t, objs, "ConfigMap").raw, &cm); err != nil {
		t.Fatal(err)
	}
	return []byte(cm.Data["config.yaml"])
}

// The ConfigMap the chart renders is a configuration sentinel accepts
// (config.Load: strict decoding and Validate, as `sentinel check-config`),
// and with default values it is exactly config.yaml's.
func TestRenderedConfigIsValid(t *testing.T) {
	want, err := config.Load(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "defaults"},
		{name: "all options", args: []string{"-f", allOptions}},
		{name: "an existing Secret", args: []string{"--set", "config.paging.pagerduty.enabled=true", "--set", "pagerduty.existingSecret=pd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, renderedConfig(t, render(t, tc.args...)), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := config.Load(path)
			if err != nil {
				t.Fatalf("sentinel check-config would reject the chart's configuration: %v", err)
			}
			if tc.name == "defaults" {
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("default chart config differs from config.yaml (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// A typo or a wrong type fails at helm install, naming the key.
func TestSchemaRejectsMistakes(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want string
	}{
		{set: "replicas=3", want: "additional properties 'replicas' not allowed"},
		{set: "config.detection.treshold=0.5", want: "at '/config/detection': additional properties 'treshold' not allowed"},
		{set: "config.detection.poll_interval=15", want: "at '/config/detection/poll_interval': got number, want string"},
		{set: "config.detection.poll_interval=15 s", want: "at '/config/detection/poll_interval'"},
		{set: "config.metrics.source=graphite", want: "at '/config/metrics/source'"},
		{set: "config.paging.pagerduty.severity=page", want: "at '/config/paging/pagerduty/severity'"},
		{set: "podAntiAffinity=sometimes", want: "at '/podAntiAffinity'"},
		{set: "image.pullPolicy=Sometimes", want: "at '/image/pullPolicy'"},
		{set: "serviceMonitor.enable=true", want: "additional properties 'enable' not allowed"},
		{set: "config.paging.pagerduty.enabled=true", want: "there is no routing key: set pagerduty.existingSecret"},
		{set: "config.run.listen_address=localhost", want: `config.run.listen_address: must end in :PORT, got "localhost"`},
		{set: "config.run.leader_election.enabled=false", want: "replicaCount > 1 needs config.run.leader_election.enabled"},
		{set: "config.kubernetes.kubeconfig=/root/.kube/config", want: "config.kubernetes.kubeconfig: must be empty in the cluster"},
		{set: "extraVolumeMounts[0].name=x", want: "at '/extraVolumeMounts/0': missing property 'mountPath'"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			out, err := helmErr(t, "template", "sentinel", chartDir, "--set", tc.set)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("helm template --set %s: err %v, output lacks %q:\n%s", tc.set, err, tc.want, out)
			}
		})
	}
}

func TestRenderedObjects(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want map[string]int
	}{
		{name: "defaults", want: map[string]int{"ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Role": 1,
			"RoleBinding": 1, "ConfigMap": 1, "Deployment": 1, "PodDisruptionBudget": 1, "Service": 1, "Lease": 1}},
		{name: "all options", args: []string{"-f", allOptions}, want: map[string]int{"ServiceAccount": 1, "ClusterRole": 1,
			"ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1, "ConfigMap": 1, "Deployment": 1, "PodDisruptionBudget": 1,
			"Service": 1, "Secret": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "NetworkPolicy": 1, "Lease": 1,
			"ValidatingAdmissionPolicy": 1, "ValidatingAdmissionPolicyBinding": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.args...)
			if diff := cmp.Diff(tc.want, kinds(objs)); diff != "" {
				t.Errorf("rendered kinds (-want +got):\n%s", diff)
			}
			var d appsv1.Deployment
			if err := yaml.Unmarshal(only(t, objs, "Deployment").raw, &d); err != nil {
				t.Fatal(err)
			}
			if got := checkDeployment(&d); len(got) > 0 {
				t.Errorf("deployment: %s", strings.Join(got, "; "))
			}
		})
	}
}

// checkDeployment lists what is missing of what the issue requires of
// the pod: replicas with leader election, probes, resources, and the
// restricted security context.
func checkDeployment(d *appsv1.Deployment) []string {
	var bad []string
	s := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		bad = append(bad, "fewer than 2 replicas")
	}
	psc := s.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad = append(bad, "pod may run as root or without the RuntimeDefault seccomp profile")
	}
	c := s.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		bad = append(bad, "container may write its root filesystem, escalate privileges or keep capabilities")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		bad = append(bad, "probes on /readyz and /healthz missing")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		bad = append(bad, "requests and limits missing")
	}
	if d.Annotations["sentinel.dev/rollback"] != "false" {
		bad = append(bad, "sentinel is not opted out of rolling itself back")
	}
	return bad
}

// grant is one permission a set of RBAC objects gives the ServiceAccount.
type grant struct {
	Scope    string // "cluster", or "lease namespace"
	Group    string
	Resource string
	Verb     string
}

// grants expands RBAC objects into the permissions they give, by scope.
func grants(t *testing.T, docs [][]byte, leaseNS string) []grant {
	t.Helper()
	var out []grant
	for _, doc := range docs {
		var meta struct {
			Kind     string
			Metadata struct{ Namespace string }
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind != "ClusterRole" && meta.Kind != "Role" {
			continue
		}
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &r); err != nil {
			t.Fatal(err)
		}
		scope := "cluster"
		if meta.Kind == "Role" {
			scope = "role in " + meta.Metadata.Namespace
			if meta.Metadata.Namespace == leaseNS {
				scope = "lease namespace"
			}
		}
		for _, rule := range r.Rules {
			if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
				t.Fatalf("%s %s: resourceNames and nonResourceURLs are not compared", meta.Kind, r.Name)
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						out = append(out, grant{Scope: scope, Group: g, Resource: res, Verb: v})
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return strings.Join([]string{a.Scope, a.Group, a.Resource, a.Verb}, "/") <
			strings.Join([]string{b.Scope, b.Group, b.Resource, b.Verb}, "/")
	})
	return out
}

// The chart's RBAC grants exactly what deploy/base/rbac.yaml grants. (The
// cluster test checks the same on the API server, with kubectl auth can-i.)
func TestRBACMatchesDeployBase(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "deploy", "base", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := grants(t, splitDocs(base), "sentinel")
	for _, args := range [][]string{nil, {"-f", allOptions}} {
		objs := render(t, args...)
		var docs [][]byte
		leaseNS := "sentinel"
		for _, o := range objs {
			docs = append(docs, o.raw)
			if o.Kind == "Role" {
				leaseNS = o.manifest["metadata"].(map[string]any)["namespace"].(string)
			}
		}
		if diff := cmp.Diff(want, grants(t, docs, leaseNS)); diff != "" {
			t.Errorf("helm template %v: chart RBAC differs from deploy/base/rbac.yaml (-base +chart):\n%s", args, diff)
		}
	}
}

func splitDocs(b []byte) [][]byte {
	var out [][]byte
	for _, d := range strings.Split(string(b), "\n---\n") {
		out = append(out, []byte(d))
	}
	return out
}
