package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/kube"
	"github.com/sentinel-sre/sentinel/rollback"
)

// serviceAccount applies deploy/base/rbac.yaml (the manifests a cluster
// admin installs) and returns a rest config authenticated as its
// ServiceAccount with a short-lived token — sentinel's exact identity.
func (c *cluster) serviceAccount(t *testing.T, name string) *rest.Config {
	t.Helper()
	rbac := filepath.Join("..", "..", "deploy", "base", "rbac.yaml")
	c.applyNamespace(t, "sentinel")
	c.kubectl(t, "apply", "-f", rbac)
	return c.tokenConfig(t, "sentinel", name)
}

func (c *cluster) applyNamespace(t *testing.T, ns string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ns.yaml")
	if err := os.WriteFile(f, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
}

func (c *cluster) tokenConfig(t *testing.T, ns, sa string) *rest.Config {
	t.Helper()
	token := strings.TrimSpace(c.kubectl(t, "-n", ns, "create", "token", sa, "--duration", "1h"))
	cfg := rest.AnonymousClientConfig(c.rest)
	cfg.BearerToken = token
	return cfg
}

// The ServiceAccount has exactly what sentinel needs; one without patch
// is told precisely what is missing, before and when it tries to write.
func TestRBAC(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	full := kubernetes.NewForConfigOrDie(c.serviceAccount(t, "sentinel"))
	if err := kube.CheckAccess(ctx, full, kube.Needed([]string{"default"})); err != nil {
		t.Errorf("deploy/base/rbac.yaml lacks a permission: %v", err)
	}
	if err := kube.CheckAccess(ctx, full, kube.Needed(nil)); err != nil {
		t.Errorf("cluster-wide: %v", err)
	}
	if err := kube.CheckAccess(ctx, full, kube.LeasePermissions("sentinel")); err != nil {
		t.Errorf("leader election: %v", err)
	}
	// ...and nothing more: no Secrets, no pods, no deleting.
	for _, p := range []kube.Permission{
		{Verb: "get", Resource: "secrets", Namespace: "default"},
		{Verb: "list", Resource: "pods", Namespace: "default"},
		{Verb: "delete", Group: "apps", Resource: "deployments", Namespace: "default"},
		{Verb: "update", Group: "apps", Resource: "deployments", Namespace: "default"},
		{Verb: "patch", Group: "apps", Resource: "replicasets", Namespace: "default"},
		{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "default"},
	} {
		if err := kube.CheckAccess(ctx, full, []kube.Permission{p}); err == nil {
			t.Errorf("sentinel may %s", p)
		}
	}

	// A ServiceAccount bound to a role without patch.
	ns := c.namespace(t, "e2e-rbac")
	c.install(t, ns)
	c.kubectl(t, "-n", ns, "create", "serviceaccount", "readonly")
	c.kubectl(t, "-n", ns, "create", "role", "readonly", "--verb=get,list,watch", "--resource=deployments.apps,replicasets.apps")
	c.kubectl(t, "-n", ns, "create", "rolebinding", "readonly", "--role=readonly", "--serviceaccount="+ns+":readonly")
	ro := kubernetes.NewForConfigOrDie(c.tokenConfig(t, ns, "readonly"))
	err := kube.CheckAccess(ctx, ro, kube.Needed([]string{ns}))
	want := "missing RBAC permissions: patch deployments.apps in namespace " + ns + "; create events in namespace " + ns
	if err == nil || err.Error() != want {
		t.Errorf("CheckAccess = %v\nwant %s", err, want)
	}

	// The write itself names the verb and resource.
	d := c.deployment(t, ns)
	rs := c.firstReplicaSet(t, ns)
	exec := kube.NewExecutor(ro, clock.RealClock{}, zap.NewNop(), time.Second)
	plan := &rollback.Plan{Workload: demo(ns), Incident: "x", ResourceVersion: d.ResourceVersion,
		FromFingerprint: history.Fingerprint(&d.Spec.Template), ReplicaSet: rs.Name, Template: rs.Spec.Template, ToRevision: 1}
	err = exec.Rollback(ctx, plan)
	if err == nil || !strings.Contains(err.Error(), `cannot patch resource "deployments" in API group "apps"`) ||
		!strings.Contains(err.Error(), "patch deployment "+ns+"/demo") {
		t.Errorf("rollback as readonly: %v", err)
	}
}
