package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/guard"
	"github.com/sentinel-sre/sentinel/incident"
)

// identityConfig is what the identity-mode guard is rendered from: the
// default trusted managers and their default bindings (Argo CD's, Flux's
// and sentinel's ServiceAccounts), and helm bound to the team's CI
// ServiceAccount, ns/ci-deployer. Change events are on, so the break
// glass is told as a change naming its user too.
func identityConfig(ns string) config.Config {
	cfg := testConfig(ns)
	cfg.Guard.Identities["helm"] = config.Identities{ServiceAccounts: []string{ns + "/ci-deployer"}}
	cfg.Paging.PagerDuty.ChangeEvents = true
	return cfg
}

// as runs kubectl in ns impersonating user in groups, as the API server
// authenticates a person (kubectl --as, --as-group).
func (g *guarded) as(t *testing.T, user string, groups []string, args ...string) func() (string, error) {
	flags := []string{"-n", g.ns, "--as=" + user}
	for _, grp := range groups {
		flags = append(flags, "--as-group="+grp)
	}
	return func() (string, error) { return g.c.attempt(t, nil, "kubectl", append(flags, args...)...) }
}

// identityTry is one request and what identity mode must make of it.
type identityTry struct {
	name string
	run  func() (string, error)
	// refused matches the refusal; nil passes.
	refused *regexp.Regexp
}

func (g *guarded) checkIdentity(t *testing.T, tries []identityTry) {
	t.Helper()
	for _, tr := range tries {
		before := imageOf(g.c.deployment(t, g.ns))
		out, err := tr.run()
		switch {
		case tr.refused == nil && err != nil:
			t.Errorf("%s: refused: %v\n%s", tr.name, err, out)
		case tr.refused == nil:
		case err == nil:
			t.Errorf("%s: passed the guard\n%s", tr.name, out)
		case !tr.refused.MatchString(out) || !breakGlassHint.MatchString(out):
			t.Errorf("%s: refusal does not say who, as whom, and how to break glass:\n%s", tr.name, out)
		default:
			t.Logf("%s: refused as it should be:\n%s", tr.name, out)
			if after := imageOf(g.c.deployment(t, g.ns)); after != before {
				t.Errorf("%s: refused, yet the image went from %s to %s", tr.name, before, after)
			}
		}
	}
}

// In identity mode a trusted manager's name is honoured only from its
// identities: a developer with edit rights who writes as helm is refused,
// saying who and as whom; the CI ServiceAccount's helm upgrade passes, as
// do Argo CD's controller (the shipped binding) and sentinel's rollback;
// the other team's unlabelled Deployment is untouched; break glass still
// works and is reported with its user.
func TestGuardIdentity(t *testing.T) {
	g := arrangeGuard(t, "e2e-guard-identity")
	c, ns := g.c, g.ns
	// Edit rights on the team's namespace, as the aggregated edit role
	// would give them (the test control plane runs no aggregation
	// controller, so that role is empty here): Deployments, and the
	// Secrets Helm keeps its releases in.
	c.kubectl(t, "-n", ns, "create", "role", "team-edit", "--verb=get,list,watch,create,update,patch,delete",
		"--resource=deployments.apps,replicasets.apps,secrets,configmaps")
	c.kubectl(t, "-n", ns, "create", "serviceaccount", "ci-deployer")
	c.kubectl(t, "-n", ns, "create", "rolebinding", "team-edit", "--role=team-edit", "--user=alice",
		"--serviceaccount="+ns+":ci-deployer", "--serviceaccount=argocd:argocd-application-controller")
	ci := c.kubeconfigWithToken(t, c.tokenConfig(t, ns, "ci-deployer").BearerToken)

	cfg := identityConfig(ns)
	c.applyFile(t, renderGuard(t, cfg, guard.Identity), "--kubeconfig="+g.installer)
	alice := []string{"developers"}
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the last dry run as alice said:\n%s", last)
		}
	})
	eventually(t, 30*time.Second, "the guard in identity mode", func() bool {
		out, err := g.as(t, "alice", alice, "set", "image", "deployment/demo", "app=registry.example/demo:dry-run",
			"--field-manager=helm", "--dry-run=server")()
		last = out
		return err != nil && strings.Contains(out, "in identity mode")
	})

	asHelm := regexp.MustCompile(`sentinel admission guard: image change of Deployment ` + ns + `/demo refused: user alice ` +
		`\(groups developers, system:authenticated\) wrote as field manager helm, a trusted deployer, but in identity mode ` +
		`only system:serviceaccount:` + ns + `:ci-deployer may write as helm \(guard\.identities\)\. Deploy through that identity instead`)
	g.checkIdentity(t, []identityTry{
		{name: "a developer's kubectl set image --field-manager=helm", refused: asHelm,
			run: g.as(t, "alice", alice, "set", "image", "deployment/demo", "app=registry.example/demo:v9", "--field-manager=helm")},
		{name: "a developer's patch --field-manager=argocd-controller",
			refused: regexp.MustCompile(`user alice .* wrote as field manager argocd-controller, a trusted deployer, but in identity mode ` +
				`only system:serviceaccount:argocd:argocd-application-controller may write as argocd-controller`),
			run: g.as(t, "alice", alice, "patch", "deployment", "demo", "--field-manager=argocd-controller", "-p",
				`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/demo:v9"}]}}}}`)},
		{name: "a developer removing the opt-in as helm",
			refused: regexp.MustCompile(`removal of the sentinel\.dev/guard label of Deployment ` + ns + `/demo refused: user alice`),
			run:     g.as(t, "alice", alice, "label", "deployment", "demo", guard.Label+"-", "--field-manager=helm")},
		{name: "the CI ServiceAccount's kubectl set image (no trusted name)",
			refused: regexp.MustCompile(`by field manager kubectl-set, not a trusted deployer`),
			run: func() (string, error) {
				return c.attempt(t, nil, "kubectl", "--kubeconfig", ci, "-n", ns, "set", "image", "deployment/demo", "app=registry.example/demo:v9")
			}},
		{name: "the CI ServiceAccount's helm upgrade", run: func() (string, error) {
			return c.attempt(t, nil, c.helm, "--kubeconfig", ci, "upgrade", "demo", chart(), "--namespace", ns,
				"--set", "image=registry.example/demo:v1.1")
		}},
		{name: "Argo CD's controller, by its standard ServiceAccount", run: g.as(t,
			"system:serviceaccount:argocd:argocd-application-controller", nil, "set", "image", "deployment/demo",
			"app=registry.example/demo:v1.2", "--field-manager=argocd-controller")},
		{name: "the other team's Deployment, written as helm by a developer", run: g.as(t, "alice", alice,
			"set", "image", "deployment/other", "other=registry.example/other:v2", "--field-manager=helm")},
		{name: "sentinel's rollback, as sentinel's ServiceAccount", run: func() (string, error) {
			sa := kubernetes.NewForConfigOrDie(c.serviceAccount(t, "sentinel"))
			return "", rollbackTo(t.Context(), t, c, sa, ns, "registry.example/demo:v1", "e2e-guard-identity")
		}},
	})
	if got := imageOf(c.deployment(t, ns)); got != "registry.example/demo:v1" {
		t.Errorf("after sentinel's rollback the image is %s", got)
	}
	g.breakGlassAs(t, cfg, "alice", alice)
	g.report(t, guard.Identity)
}

// breakGlassAs pushes an emergency image as user, who names themself in
// the annotations; sentinel reports the break glass and the change, both
// naming the user.
func (g *guarded) breakGlassAs(t *testing.T, cfg config.Config, user string, groups []string) {
	t.Helper()
	s := start(t, g.c.rest, cfg, g.c.client, nil)
	patch := func(by string) func() (string, error) {
		return g.as(t, user, groups, "patch", "deployment", "demo", "--field-manager=helm", "-p",
			`{"metadata":{"annotations":{"`+guard.BreakGlassAnnotation+`":"INC-9 checkout down","`+guard.BreakGlassByAnnotation+`":"`+by+
				`"}},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/demo:hotfix-1"}]}}}}`)
	}
	g.checkIdentity(t, []identityTry{
		{name: "break glass in someone else's name", run: patch("mallory"), refused: regexp.MustCompile(`refused: user ` + user + ` `)},
		{name: "break glass", run: patch(user)},
	})
	want := map[incident.Kind]string{
		incident.BreakGlass: "break glass: image changed to demo:hotfix-1 past the admission guard by helm (user " + user + "): INC-9 checkout down",
		incident.Change:     g.ns + "/demo: image changed by helm (user " + user + ") to demo:hotfix-1",
	}
	for kind, text := range want {
		eventually(t, 30*time.Second, "the "+kind.String()+" naming "+user, func() bool {
			for _, a := range s.out.of(kind) {
				if a.Message == text || a.Summary() == text {
					return true
				}
			}
			return false
		})
	}
}
