package charts

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// prometheusOperator is the release whose CRDs (ServiceMonitor,
// PrometheusRule) the test API server gets, so the chart's optional
// objects are validated against their real schemas. The Go module proxy
// serves the repository, CRDs included.
const prometheusOperator = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

type cluster struct{ kubeconfig string }

// needCluster returns the test cluster scripts/testenv.sh started; under
// scripts/test.sh (SENTINEL_E2E=required) a missing one fails.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	kc := os.Getenv("SENTINEL_TEST_KUBECONFIG")
	if kc == "" {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal("SENTINEL_TEST_KUBECONFIG is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test cluster: run scripts/test.sh, or scripts/testenv.sh exec -- go test ./charts")
	}
	return &cluster{kubeconfig: kc}
}

func (c *cluster) cmd(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (c *cluster) kubectl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := c.cmd(t, stdin, "kubectl", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.cmd(t, nil, helmBinary(t), args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) namespace(t *testing.T, name string) {
	t.Helper()
	c.kubectl(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+"\n"), "apply", "-f", "-")
}

// operatorCRDs installs the Prometheus Operator's ServiceMonitor and
// PrometheusRule CRDs.
func (c *cluster) operatorCRDs(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", prometheusOperator).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", prometheusOperator, err, out)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: no directory in %s (%v)", prometheusOperator, out, err)
	}
	crds := filepath.Join(mod.Dir, "example", "prometheus-operator-crd")
	for _, crd := range []string{"servicemonitors", "prometheusrules"} {
		c.kubectl(t, nil, "apply", "--server-side", "-f", filepath.Join(crds, "monitoring.coreos.com_"+crd+".yaml"))
		c.established(t, crd+".monitoring.coreos.com")
	}
}

// established waits up to a minute for a CRD to be served. `kubectl wait
// --for=condition=Established` is not used: asked before the API server
// has given the new CRD any status it fails at once (".status.conditions
// accessor error: <nil>"), which it did in CI.
func (c *cluster) established(t *testing.T, crd string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.cmd(t, nil, "kubectl", "get", "crd", crd, "-o",
			`jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		if err == nil && strings.TrimSpace(out) == "True" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not established after a minute: %v %s", crd, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Every object the chart renders, with default values and with every
// option set, passes the real API server's validation and admission.
func TestServerSideDryRun(t *testing.T) {
	c := needCluster(t)
	c.operatorCRDs(t)
	c.namespace(t, "sentinel")
	c.namespace(t, "sentinel-leases") // all-options' lease namespace
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "defaults"},
		{name: "all options", args: []string{"-f", allOptions}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.args...)
			var docs []string
			for _, o := range objs {
				docs = append(docs, string(o.raw))
			}
			out := c.kubectl(t, []byte(strings.Join(docs, "\n---\n")), "apply", "--dry-run=server", "-f", "-")
			for _, o := range objs {
				if !strings.Contains(strings.ToLower(out), strings.ToLower(o.Kind)) || !strings.Contains(out, "/"+o.Name+" ") {
					t.Errorf("dry-run output lacks %s %s:\n%s", o.Kind, o.Name, out)
				}
			}
		})
	}
}

// canI is what an identity may do in a namespace, as the API server's
// authorizer says (kubectl auth can-i --list).
func (c *cluster) canI(t *testing.T, as, ns string) string {
	t.Helper()
	return c.kubectl(t, nil, "auth", "can-i", "--list", "--as", as, "--namespace", ns)
}

// leftovers lists every object of the release still in the cluster.
func (c *cluster) leftovers(t *testing.T, release string) string {
	t.Helper()
	res := strings.Fields(c.kubectl(t, nil, "api-resources", "--verbs=list", "-o", "name"))
	return strings.TrimSpace(c.kubectl(t, nil, "get", strings.Join(res, ","), "--all-namespaces",
		"-l", "app.kubernetes.io/instance="+release, "-o", "name", "--ignore-not-found"))
}

// helm install, upgrade and uninstall on the real API server: every
// object is created, the ServiceAccount may do exactly what deploy/base's
// may, an upgrade rolls the pods on a configuration change, and uninstall
// leaves nothing behind.
func TestInstallUpgradeUninstall(t *testing.T) {
	c := needCluster(t)
	c.operatorCRDs(t)
	const ns, release = "chart-e2e", "sentry"
	t.Cleanup(func() {
		_, _ = c.cmd(t, nil, "kubectl", "delete", "namespace", ns, "--wait=false")
	})
	opts := []string{"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
		"--set", "networkPolicy.enabled=true", "--set", "config.paging.pagerduty.enabled=true",
		"--set", "pagerduty.routingKey=" + strings.Repeat("k", 32)}
	notes := c.helm(t, append([]string{"install", release, chartDir, "--namespace", ns, "--create-namespace"}, opts...)...)
	for _, want := range []string{"kubectl -n chart-e2e rollout status deployment/sentry-sentinel",
		"kubectl -n chart-e2e get lease sentinel -o jsonpath='{.spec.holderIdentity}",
		"curl -s localhost:8080/metrics | grep -E '^sentinel_(leader|source_up|blind|workloads_watched) '"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
	installed := strings.Fields(c.leftovers(t, release))
	want := []string{"clusterrole.rbac.authorization.k8s.io/sentry-sentinel", "clusterrolebinding.rbac.authorization.k8s.io/sentry-sentinel",
		"configmap/sentry-sentinel-config", "deployment.apps/sentry-sentinel", "lease.coordination.k8s.io/sentinel", "networkpolicy.networking.k8s.io/sentry-sentinel",
		"poddisruptionbudget.policy/sentry-sentinel", "prometheusrule.monitoring.coreos.com/sentry-sentinel",
		"role.rbac.authorization.k8s.io/sentry-sentinel-leader-election", "rolebinding.rbac.authorization.k8s.io/sentry-sentinel-leader-election",
		"secret/sentry-sentinel-pagerduty", "service/sentry-sentinel", "serviceaccount/sentry-sentinel", "servicemonitor.monitoring.coreos.com/sentry-sentinel"}
	for _, w := range want {
		if !strings.Contains(strings.Join(installed, "\n"), w) {
			t.Errorf("after helm install, %s is missing; installed:\n%s", w, strings.Join(installed, "\n"))
		}
	}

	// RBAC on the API server: the chart's ServiceAccount and deploy/base's
	// may do the same, in their own namespace and in any other.
	c.namespace(t, "sentinel")
	c.kubectl(t, nil, "apply", "-f", filepath.Join("..", "deploy", "base", "rbac.yaml"))
	chartSA, baseSA := "system:serviceaccount:"+ns+":sentry-sentinel", "system:serviceaccount:sentinel:sentinel"
	if diff := cmp.Diff(c.canI(t, baseSA, "sentinel"), c.canI(t, chartSA, ns)); diff != "" {
		t.Errorf("in its own namespace the chart's ServiceAccount may do other than deploy/base's (-base +chart):\n%s", diff)
	}
	if diff := cmp.Diff(c.canI(t, baseSA, "default"), c.canI(t, chartSA, "default")); diff != "" {
		t.Errorf("in another namespace the chart's ServiceAccount may do other than deploy/base's (-base +chart):\n%s", diff)
	}

	podConfig := func() string {
		return c.kubectl(t, nil, "-n", ns, "get", "deployment", "sentry-sentinel",
			"-o", `jsonpath={.spec.template.metadata.annotations.checksum/config}`)
	}
	before := podConfig()
	c.helm(t, append([]string{"upgrade", release, chartDir, "--namespace", ns, "--set-json", "config.detection.threshold=0.6"}, opts...)...)
	if got := c.kubectl(t, nil, "-n", ns, "get", "configmap", "sentry-sentinel-config", "-o", `jsonpath={.data.config\.yaml}`); !strings.Contains(got, "threshold: 0.6") {
		t.Errorf("upgraded ConfigMap lacks threshold: 0.6:\n%s", got)
	}
	if after := podConfig(); after == before || after == "" {
		t.Errorf("config checksum %q after the upgrade, %q before: the pods would not roll", after, before)
	}
	if got := c.helm(t, "history", release, "--namespace", ns, "--max", "1", "-o", "json"); !strings.Contains(got, `"revision":2`) ||
		!strings.Contains(got, `"status":"deployed"`) {
		t.Errorf("helm history after upgrade: %s", got)
	}

	c.helm(t, "uninstall", release, "--namespace", ns, "--wait")
	if left := c.leftovers(t, release); left != "" {
		t.Errorf("helm uninstall left behind:\n%s", left)
	}
	if got := c.helm(t, "list", "--all", "--namespace", ns, "-q"); strings.TrimSpace(got) != "" {
		t.Errorf("helm list after uninstall: %q", got)
	}
}
