package e2e

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/client-go/kubernetes"

	"github.com/sentinel-sre/sentinel/daemon"
	"github.com/sentinel-sre/sentinel/guard"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/kube"
)

// guarded is the arrangement of the guard's end-to-end test: in one
// namespace the team's Helm release demo, opted in to the guard, and the
// other team's Deployment other, not opted in; the guard installed by its
// least-privilege installer.
type guarded struct {
	c         *cluster
	ns        string
	installer string // kubeconfig of the guard's installer
}

func arrangeGuard(t *testing.T, name string) *guarded {
	t.Helper()
	c := needCluster(t)
	ns := c.namespace(t, name)
	c.install(t, ns)
	c.kubectl(t, "-n", ns, "label", "deployment", "demo", guard.Label+"="+guard.LabelValue)
	c.kubectl(t, "-n", ns, "create", "deployment", "other", "--image=registry.example/other:v1")

	// The installer: exactly deploy/guard/installer-rbac.yaml.
	c.applyNamespace(t, "sentinel")
	c.kubectl(t, "apply", "-f", filepath.Join("..", "..", "deploy", "guard", "installer-rbac.yaml"))
	installer := c.tokenConfig(t, "sentinel", "sentinel-guard-installer")
	ic := kubernetes.NewForConfigOrDie(installer)
	for _, p := range []kube.Permission{
		{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: ns},
		{Verb: "delete", Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies"},
		{Verb: "list", Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicybindings"},
		{Verb: "get", Resource: "secrets", Namespace: ns},
	} {
		if err := kube.CheckAccess(t.Context(), ic, []kube.Permission{p}); err == nil {
			t.Errorf("the guard's installer may %s", p)
		}
	}
	g := &guarded{c: c, ns: ns, installer: c.kubeconfigWithToken(t, installer.BearerToken)}
	c.deleteGuard(t, g.installer)
	g.install(t, guard.Deny)
	return g
}

// install applies the guard rendered in mode, as the installer, and waits
// until it is in force.
func (g *guarded) install(t *testing.T, mode guard.Mode) {
	t.Helper()
	g.c.applyFile(t, renderGuard(t, guardConfig(g.ns), mode), "--kubeconfig="+g.installer)
	g.c.waitGuard(t, g.ns, "demo", mode)
}

// try is one way of changing a Deployment and what the guard must do.
type try struct {
	name string
	run  func() (string, error)
	// refused by the guard with this field manager wording; "" passes.
	refusedBy string
	// what is refused; "" is "image change".
	what string
}

func (g *guarded) check(t *testing.T, tries []try) {
	t.Helper()
	for _, tr := range tries {
		before := imageOf(g.c.deployment(t, g.ns))
		out, err := tr.run()
		switch {
		case tr.refusedBy == "" && err != nil:
			t.Errorf("%s: refused: %v\n%s", tr.name, err, out)
		case tr.refusedBy == "":
		case err == nil:
			t.Errorf("%s: passed the guard\n%s", tr.name, out)
		default:
			want := "sentinel admission guard: " + cmp.Or(tr.what, "image change") + " of Deployment " + g.ns + "/demo by " + tr.refusedBy + ", not a trusted deployer. " +
				"Deploy it with a trusted deployer instead (helm, sentinel), e.g. helm upgrade"
			if !strings.Contains(out, want) || !breakGlassHint.MatchString(out) {
				t.Errorf("%s: refusal does not say how to deploy and how to break glass:\n%s", tr.name, out)
			}
			if after := imageOf(g.c.deployment(t, g.ns)); after != before {
				t.Errorf("%s: refused, yet the image went from %s to %s", tr.name, before, after)
			}
		}
	}
}

func (g *guarded) kubectl(t *testing.T, env []string, args ...string) func() (string, error) {
	return func() (string, error) {
		return g.c.attempt(t, env, "kubectl", append([]string{"-n", g.ns}, args...)...)
	}
}

// In deny mode the guard refuses every imperative image change of the
// opted-in Deployment, lets Helm, sentinel, scaling and the other team
// through, and lets an emergency break glass, which sentinel reports.
func TestGuardDeny(t *testing.T) {
	g := arrangeGuard(t, "e2e-guard-deny")
	c, ns := g.c, g.ns
	manifest := strings.ReplaceAll(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"demo","namespace":"NS","labels":{"app":"demo","sentinel.dev/guard":"enabled"}},
"spec":{"selector":{"matchLabels":{"app":"demo"}},"template":{"metadata":{"labels":{"app":"demo"}},"spec":{"containers":[{"name":"app","image":"registry.example/demo:IMG"}]}}}}`, "NS", ns)
	apply := func(tag string, flags ...string) func() (string, error) {
		return func() (string, error) {
			f := filepath.Join(t.TempDir(), "demo.json")
			if err := writeFile(f, strings.ReplaceAll(manifest, "IMG", tag)); err != nil {
				return "", err
			}
			return c.attempt(t, nil, "kubectl", append([]string{"apply", "-f", f}, flags...)...)
		}
	}
	g.check(t, []try{
		{name: "kubectl set image", run: g.kubectl(t, nil, "set", "image", "deployment/demo", "app=registry.example/demo:v9"), refusedBy: "field manager kubectl-set"},
		{name: "kubectl patch", run: g.kubectl(t, nil, "patch", "deployment", "demo", "-p",
			`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/demo:v9"}]}}}}`), refusedBy: "field manager kubectl-patch"},
		{name: "kubectl edit", run: g.kubectl(t, []string{"KUBE_EDITOR=" + editor(t, "demo:v1", "demo:v9")}, "edit", "deployment", "demo"),
			refusedBy: "field manager kubectl-edit"},
		{name: "kubectl apply --server-side", run: apply("v9", "--server-side", "--force-conflicts"), refusedBy: "field manager kubectl"},
		{name: "kubectl apply", run: apply("v9"), refusedBy: "field manager kubectl-client-side-apply"},
		{name: "helm upgrade", run: func() (string, error) {
			return c.attempt(t, nil, c.helm, "upgrade", "demo", chart(), "--namespace", ns, "--set", "image=registry.example/demo:v1.1")
		}},
		{name: "kubectl rollout undo", run: g.kubectl(t, nil, "rollout", "undo", "deployment/demo"),
			refusedBy: "a client that named no field manager (kubectl rollout undo, curl, client-go)"},
		{name: "kubectl scale", run: g.kubectl(t, nil, "scale", "deployment/demo", "--replicas=3")},
		{name: "kubectl label removing the opt-in", run: g.kubectl(t, nil, "label", "deployment", "demo", guard.Label+"-"),
			refusedBy: "field manager kubectl-label", what: "removal of the sentinel.dev/guard label"},
		{name: "kubectl set image of the other team's Deployment", run: g.kubectl(t, nil, "set", "image", "deployment/other", "other=registry.example/other:v2")},
		{name: "sentinel's rollback, as sentinel's ServiceAccount", run: func() (string, error) {
			c.waitRevision(t, ns, "2")
			sa := kubernetes.NewForConfigOrDie(c.serviceAccount(t, "sentinel"))
			return "", rollbackTo(t.Context(), t, c, sa, ns, "registry.example/demo:v1", "e2e-guard")
		}},
		{name: "helm rollback", run: func() (string, error) {
			return c.attempt(t, nil, c.helm, "rollback", "demo", "2", "--namespace", ns)
		}},
	})
	if got := imageOf(c.deployment(t, ns)); got != "registry.example/demo:v1.1" {
		t.Errorf("after helm rollback the image is %s", got)
	}
	// Creating an opted-in Deployment is deploying it.
	g.check(t, []try{{name: "kubectl create", refusedBy: "field manager kubectl-create", run: func() (string, error) {
		f := filepath.Join(t.TempDir(), "fresh.json")
		if err := writeFile(f, strings.ReplaceAll(strings.ReplaceAll(manifest, `"name":"demo"`, `"name":"fresh"`), "IMG", "v1")); err != nil {
			return "", err
		}
		out, err := c.attempt(t, nil, "kubectl", "create", "-f", f)
		return strings.ReplaceAll(out, ns+"/fresh", ns+"/demo"), err
	}}})
	g.breakGlass(t)
	g.report(t, guard.Deny)
}

var noticeOf = regexp.MustCompile(`^break glass: image changed to demo:hotfix-1 past the admission guard by kubectl-patch \(user (\S+)\): INC-7 payments down$`)

// breakGlass pushes an emergency image with the annotations; sentinel
// reports it. A reused reason and someone else's name are refused.
func (g *guarded) breakGlass(t *testing.T) {
	t.Helper()
	c, ns := g.c, g.ns
	s := start(t, c.rest, guardConfig(ns), c.client, nil)
	user := c.whoami(t)
	patch := func(reason, by, tag string) func() (string, error) {
		return g.kubectl(t, nil, "patch", "deployment", "demo", "-p", `{"metadata":{"annotations":{"`+guard.BreakGlassAnnotation+`":"`+reason+
			`","`+guard.BreakGlassByAnnotation+`":"`+by+`"}},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/demo:`+tag+`"}]}}}}`)
	}
	g.check(t, []try{
		{name: "break glass in someone else's name", run: patch("INC-7 payments down", "mallory", "hotfix-1"), refusedBy: "field manager kubectl-patch"},
		{name: "break glass", run: patch("INC-7 payments down", user, "hotfix-1")},
		{name: "the same reason again", run: patch("INC-7 payments down", user, "hotfix-2"), refusedBy: "field manager kubectl-patch"},
	})
	var got string
	eventually(t, 30*time.Second, "the break-glass notice", func() bool {
		for _, a := range s.out.of(incident.BreakGlass) {
			if strings.HasPrefix(a.Message, "break glass:") {
				got = a.Message
				return true
			}
		}
		return false
	})
	if m := noticeOf.FindStringSubmatch(got); m == nil || m[1] != user {
		t.Errorf("notice %q, want it to name kubectl-patch, user %s and the reason", got, user)
	}
}

// report: sentinel's runtime RBAC (deploy/base) cannot read the guard, so
// it reports "unknown"; with deploy/guard/reader-rbac.yaml it reports the
// mode.
func (g *guarded) report(t *testing.T, mode guard.Mode) {
	t.Helper()
	c := g.c
	sa := kubernetes.NewForConfigOrDie(c.serviceAccount(t, "sentinel"))
	list := kube.Permission{Verb: "list", Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicybindings"}
	if err := kube.CheckAccess(t.Context(), sa, []kube.Permission{list}); err == nil {
		t.Errorf("deploy/base/rbac.yaml grew: sentinel may %s", list)
	}
	expect := func(want guard.Mode, wantLog string) {
		t.Helper()
		reg := prometheus.NewRegistry()
		core, logs := observer.New(zap.InfoLevel)
		guard.Report(t.Context(), sa.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings(), []string{g.ns}, reg, zap.New(core))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				got[mf.GetName()+"{mode="+m.GetLabel()[0].GetValue()+"}"] = m.GetGauge().GetValue()
			}
		}
		wantSeries := map[string]float64{}
		for _, m := range guard.Modes() {
			wantSeries["sentinel_admission_guard_mode{mode="+string(m)+"}"] = 0
		}
		wantSeries["sentinel_admission_guard_mode{mode="+string(want)+"}"] = 1
		if diff := gocmp.Diff(wantSeries, got); diff != "" {
			t.Errorf("/metrics (-want +got):\n%s", diff)
		}
		if n := logs.FilterMessageSnippet(wantLog).Len(); n != 1 {
			t.Errorf("no log line %q in %v", wantLog, logs.All())
		}
	}
	expect(guard.Unknown, "admission guard: unknown: sentinel may not list validatingadmissionpolicybindings")
	reader := filepath.Join("..", "..", "deploy", "guard", "reader-rbac.yaml")
	c.kubectl(t, "apply", "-f", reader)
	defer c.kubectl(t, "delete", "-f", reader)
	eventually(t, 30*time.Second, "the reader role in force", func() bool {
		return kube.CheckAccess(t.Context(), sa, []kube.Permission{list}) == nil
	})
	expect(mode, "admission guard: "+string(mode))
}

// In warn mode the change goes through and kubectl shows why it should
// not have been made.
func TestGuardWarn(t *testing.T) {
	g := arrangeGuard(t, "e2e-guard-warn")
	g.install(t, guard.Warn)
	out, err := g.kubectl(t, nil, "set", "image", "deployment/demo", "app=registry.example/demo:v9")()
	if err != nil {
		t.Fatalf("kubectl set image in warn mode: %v\n%s", err, out)
	}
	want := "sentinel admission guard: image change of Deployment " + g.ns + "/demo by field manager kubectl-set, not a trusted deployer."
	if !strings.Contains(out, "Warning: ") || !strings.Contains(out, want) || !breakGlassHint.MatchString(out) {
		t.Errorf("kubectl shows no warning %q:\n%s", want, out)
	}
	if got := imageOf(g.c.deployment(t, g.ns)); got != "registry.example/demo:v9" {
		t.Errorf("image %s after a warned change", got)
	}
	g.report(t, guard.Warn)
	g.daemonReports(t, guard.Warn)
}

// daemonReports runs `sentinel run`'s daemon (as the admin, who may read
// bindings) and reads the guard's mode from its /metrics.
func (g *guarded) daemonReports(t *testing.T, mode guard.Mode) {
	t.Helper()
	cfg := guardConfig(g.ns)
	cfg.Run.LeaderElection.Enabled = false
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Config: cfg, Kube: g.c.rest, Source: scripted{client: g.c.client, ns: g.ns},
			Notifier: &recorder{}, Registry: prometheus.NewRegistry(), Log: zap.NewNop(), Clock: clock.RealClock{},
			Identity: "e2e-guard", Listener: ln})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	want := `sentinel_admission_guard_mode{mode="` + string(mode) + `"} 1`
	var body string
	eventually(t, 30*time.Second, "the daemon's /metrics", func() bool {
		resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && strings.Contains(body, "sentinel_admission_guard_mode")
	})
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %q", want)
	}
}
