package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The API server freezes (SIGSTOP) the instant sentinel reads the
// Deployment to roll it back, for 20 s: longer than the request timeout
// (2 s) and five lease durations, so the leader loses its Lease. The
// page goes out while the server is frozen; once it is back the rollback
// is carried out, once, and the on-call is told.
func TestFaultAPIServerFrozenDuringRollbackRead(t *testing.T) {
	r := newRig(t, "fault-read", "demo")
	tp, kubeconfig := r.tap(t)
	cfg := r.config()
	cfg.Kubernetes.Kubeconfig = kubeconfig
	r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "a leader", func() bool { return r.holder(t) != "" })
	time.Sleep(6 * time.Second) // v1 serves healthy for longer than healthy.min_duration

	var frozenAt atomicTime
	const frozen = 20 * time.Second
	sprung := tp.arm(deploymentRequest(http.MethodGet, r.ns, "demo"), r.freezeAction(t, frozen, &frozenAt))
	r.setImage(t, "demo", "v2")
	waitSprung(t, sprung, 60*time.Second, "the rollback's read")
	eventually(t, frozen/2, "the page while the API server is frozen", func() bool { return len(r.incidents("demo")) == 1 })

	eventually(t, frozen+90*time.Second, "the rollback to v1", func() bool { return r.image(t, "demo") == "registry.example/demo:v1" })
	t.Logf("rolled back %s after the freeze began", time.Since(frozenAt.get()).Round(time.Second))
	eventually(t, 60*time.Second, "the resolve", func() bool { return len(r.open()) == 0 })

	keys := r.incidents("demo")
	if len(keys) != 1 {
		t.Fatalf("%d incidents for demo, want one: %v", len(keys), keys)
	}
	if diff := cmp.Diff([]string{"page", "rollback", "resolve"}, r.story(t, keys[0])); diff != "" {
		t.Errorf("what PagerDuty received (-want +got):\n%s", diff)
	}
	if rev := r.revision(t, "demo"); rev != "3" {
		t.Errorf("revision %s, want 3: one rollback after the bad change", rev)
	}
	if n := r.rollbackEvents(t); n != 1 {
		t.Errorf("%d SentinelRollback events, want one", n)
	}
}
