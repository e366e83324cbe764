package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
)

// syncImage changes the demo container's image the way Argo CD's
// server-side sync does: an apply as field manager argocd-controller,
// taking the field over from Helm.
func (c *cluster) syncImage(t *testing.T, ns, tag string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(f, []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/demo:`+tag+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "-n", ns, "apply", "--server-side", "--force-conflicts", "--field-manager", "argocd-controller", "-f", f)
}

// A bad image synced by Argo CD pages with where the fix belongs, and is
// not rolled back: the controller would sync it straight back.
func TestGitOpsChangePagesToRevertInGit(t *testing.T) {
	c, ns, s := arrange(t, "e2e-gitops", tweaks{})

	c.syncImage(t, ns, "v2")
	eventually(t, 60*time.Second, "the page", func() bool { return len(s.out.of(incident.Page)) > 0 })
	page := s.out.of(incident.Page)[0]
	if page.Decision.Reason != rollback.ReasonGitOpsManaged || page.Cause == nil || page.Cause.Manager != "argocd-controller" {
		t.Fatalf("page decided %q on a change by %v, want gitops_managed by argocd-controller", page.Decision.Reason, page.Cause)
	}
	if want := "not rolled back: managed by argocd-controller: revert it in Git"; !strings.HasSuffix(page.Summary(), want) {
		t.Errorf("page %q does not end in %q", page.Summary(), want)
	}
	if got := imageOf(c.deployment(t, ns)); got != "registry.example/demo:v2" || len(s.out.of(incident.Rollback)) != 0 {
		t.Errorf("image %q and %d rollbacks, want v2 left alone", got, len(s.out.of(incident.Rollback)))
	}
}

// kubectl set image v2 is rolled back; Argo CD then syncs v2 back (Git
// had it): the incident is told, and sentinel does not fight it.
func TestRevertedRollbackIsReported(t *testing.T) {
	c, ns, s := arrange(t, "e2e-gitops-revert", tweaks{})

	c.setImage(t, ns, "v2")
	eventually(t, 60*time.Second, "the rollback", func() bool { return len(s.out.of(incident.Rollback)) > 0 })
	c.waitRevision(t, ns, "3")
	c.syncImage(t, ns, "v2")
	eventually(t, 30*time.Second, "the notice", func() bool { return len(s.out.of(incident.RollbackReverted)) > 0 })

	n, page := s.out.of(incident.RollbackReverted)[0], s.out.of(incident.Page)[0]
	if n.Incident != page.Incident {
		t.Errorf("notice on incident %q, want the page's %q", n.Incident, page.Incident)
	}
	for _, want := range []string{"argocd-controller changed the image to demo:v2 after sentinel's rollback at ",
		"; not rolling back again: managed by argocd-controller: revert it in Git"} {
		if !strings.Contains(n.Message, want) {
			t.Errorf("notice %q lacks %q", n.Message, want)
		}
	}
	// The engine has judged v2 failing again for longer than the
	// detector's `for` since the notice: a second decision would have come.
	polls := s.metric(t, "sentinel_polls_total", nil)
	need := polls + float64(2*int(s.cfg.Detection.For/s.cfg.Detection.PollInterval))
	eventually(t, 30*time.Second, "more polls of v2 failing", func() bool { return s.metric(t, "sentinel_polls_total", nil) >= need })
	if got := imageOf(c.deployment(t, ns)); got != "registry.example/demo:v2" || len(s.out.of(incident.Rollback)) != 1 {
		t.Errorf("image %q after %d rollbacks, want v2 and exactly one rollback", got, len(s.out.of(incident.Rollback)))
	}
}
