package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// The API server freezes (SIGSTOP) the instant sentinel reads the
// Deployment to roll it back, for 20 s: longer than the request timeout
// (2 s) and five lease durations, so the leader loses its Lease. The
// page goes out while the server is frozen; once it is back the rollback
// is carried out, once, and the on-call is told.
func TestFaultAPIServerFrozenDuringRollbackRead(t *testing.T) {
	r := newRig(t, "fault-read", "demo")
	tp := r.leaderBehindTap(t)

	var frozenAt atomicTime
	const frozen = 20 * time.Second
	sprung := tp.arm(deploymentRequest(http.MethodGet, r.ns, "demo"), r.freezeAction(t, frozen, &frozenAt))
	r.setImage(t, "demo", "v2")
	waitSprung(t, sprung, 60*time.Second, "the rollback's read")
	eventually(t, frozen/2, "the page while the API server is frozen", func() bool { return len(r.incidents("demo")) == 1 })

	eventually(t, frozen+90*time.Second, "the rollback to v1", func() bool { return r.image(t, "demo") == "registry.example/demo:v1" })
	t.Logf("rolled back %s after the freeze began", time.Since(frozenAt.get()).Round(time.Second))
	r.wantOneRollback(t, "demo", false)
}

// leaderBehindTap starts one replica that reaches the API server through
// a tap, waits until it leads and has judged v1 healthy, and returns the
// tap.
func (r *rig) leaderBehindTap(t *testing.T) *tap {
	t.Helper()
	tp, kubeconfig := r.tap(t)
	cfg := r.config()
	cfg.Kubernetes.Kubeconfig = kubeconfig
	p := r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "a leader", func() bool { return r.holder(t) != "" })
	waitHealthy(t, 1, p)
	return tp
}

// The API server freezes (SIGSTOP) around the rollback's write. With
// the answer lost, the write landed and sentinel never heard; frozen for
// 20 s, longer than the request timeout (2 s) and five lease durations,
// so the leader also loses its Lease. With the request frozen on its way
// in (10 s), it reaches the server only as the server thaws, after
// sentinel gave up on it, and kube-apiserver applies it then or drops it
// (both seen): sentinel's retry finds the rollback landed, or writes it.
// Either way it is carried out once, and the on-call is told.
func TestFaultAPIServerFrozenDuringRollbackWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frozen time.Duration
		act    func(r *rig, t *testing.T, d time.Duration, frozenAt *atomicTime) func(http.ResponseWriter, *http.Request, http.Handler)
		// landed: the write frozen must be the one the Deployment keeps,
		// since it landed before the freeze; otherwise either may be.
		landed bool
	}{
		{name: "answer lost", frozen: 20 * time.Second, act: (*rig).landThenFreezeAction, landed: true},
		{name: "request frozen", frozen: 10 * time.Second, act: (*rig).freezeAction},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "fault-write-"+strings.ReplaceAll(tc.name, " ", "-"), "demo")
			tp := r.leaderBehindTap(t)

			var frozenAt atomicTime
			sprung := tp.arm(deploymentRequest(http.MethodPatch, r.ns, "demo"), tc.act(r, t, tc.frozen, &frozenAt))
			r.setImage(t, "demo", "v2")
			waitSprung(t, sprung, 60*time.Second, "the rollback's write")
			eventually(t, tc.frozen+90*time.Second, "the rollback reported", func() bool {
				keys := r.incidents("demo")
				return len(keys) == 1 && slices.Contains(r.story(t, keys[0]), "rollback")
			})
			t.Logf("rollback reported %s after the freeze began", time.Since(frozenAt.get()).Round(time.Second))
			r.wantOneRollback(t, "demo", false)
			r.wantNoStrays(t, "demo")

			// Each write stamps the rollback's time: the frozen one, the
			// second of the freeze; a retry's, a later one.
			at, err := time.Parse(time.RFC3339, r.annotation(t, "demo", rollback.AnnotationRolledBackAt))
			if err != nil {
				t.Fatalf("the rollback's time: %v", err)
			}
			frozenWrite := !at.After(frozenAt.get()) && frozenAt.get().Sub(at) < 2*time.Second
			t.Logf("the Deployment keeps the frozen write: %t (rolled back at %s, frozen at %s)",
				frozenWrite, at.Format(time.TimeOnly), frozenAt.get().Format(time.TimeOnly))
			if tc.landed && !frozenWrite {
				t.Errorf("the write that landed before the freeze was written again at %s", at.Format(time.TimeOnly))
			}
		})
	}
}

// annotation is one annotation of a workload's Deployment now.
func (r *rig) annotation(t *testing.T, name, key string) string {
	t.Helper()
	d, err := r.c.client.AppsV1().Deployments(r.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return d.Annotations[key]
}

// landThenFreezeAction forwards the request to the API server and waits
// for its answer, then freezes kube-apiserver for d and never delivers
// the answer: sentinel's write landed, and it waits until it gives up.
// The forward must succeed: that the write landed is the premise.
func (r *rig) landThenFreezeAction(t *testing.T, d time.Duration, frozenAt *atomicTime) func(http.ResponseWriter, *http.Request, http.Handler) {
	freeze := r.freezeAction(t, d, frozenAt)
	return func(w http.ResponseWriter, req *http.Request, forward http.Handler) {
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("the rollback's write answered %d, want it to land: %s", rec.Code, rec.Body)
		}
		freeze(w, req, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-req.Context().Done() }))
	}
}

// wantOneRollback waits for the workload's incident to close and checks
// it was one incident, rolled back once to revision 1's template
// (revision 3) with one Event, told to PagerDuty as page, rollback,
// resolve — with repeated pages and resolves merged when more than one
// replica may have sent them.
func (r *rig) wantOneRollback(t *testing.T, workload string, merge bool) {
	t.Helper()
	eventually(t, 60*time.Second, "the resolve", func() bool { return len(r.open()) == 0 })
	keys := r.incidents(workload)
	if len(keys) != 1 {
		t.Fatalf("%d incidents for %s, want one: %v", len(keys), workload, keys)
	}
	story := r.story(t, keys[0])
	t.Logf("PagerDuty received for %s: %v", workload, story)
	if merge {
		story = compact(story)
	}
	if diff := cmp.Diff([]string{"page", "rollback", "resolve"}, story); diff != "" {
		t.Errorf("what PagerDuty received (-want +got):\n%s", diff)
	}
	got := []string{r.image(t, workload), r.revision(t, workload), strconv.Itoa(r.rollbackEvents(t))}
	want := []string{"registry.example/demo:v1", "3", "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image, revision, SentinelRollback events (-want +got):\n%s", diff)
	}
}

// wantNoStrays checks that every event PagerDuty received is under the
// dedup key of an incident of one of the workloads: none opened by a
// notice or resolve alone.
func (r *rig) wantNoStrays(t *testing.T, workloads ...string) {
	t.Helper()
	var keys []string
	for _, w := range workloads {
		keys = append(keys, r.incidents(w)...)
	}
	var strays []string
	for _, e := range r.pd.Events() {
		if !slices.Contains(keys, e.DedupKey) {
			strays = append(strays, e.Action+" "+e.DedupKey)
		}
	}
	if len(strays) > 0 {
		t.Errorf("PagerDuty events outside the incidents of %v: %v", workloads, strays)
	}
}

// compact merges repeated pages and resolves: sent again under their
// dedup key (by a second replica, or on a takeover) they change nothing
// in PagerDuty. A repeated rollback notice stays visible.
func compact(story []string) []string {
	var out []string
	for i, k := range story {
		if i > 0 && k == story[i-1] && (k == "page" || k == "resolve") {
			continue
		}
		out = append(out, k)
	}
	return out
}

// Two replicas watch two workloads. Workload a gets a bad image and the
// API server freezes the instant the leader reads a's Deployment to roll
// it back, for 25 s; while it is frozen workload b fails and recovers.
// Paging does not depend on the API server nor waits on a rollback: b's
// page and its resolve reach PagerDuty before the server is back, under
// one dedup key whichever replicas send them, and nothing reopens once it
// is back, when a is rolled back, once. Both replicas stay live; their
// /readyz names the API server, not the metrics source.
func TestFaultPagingWhileAPIServerDown(t *testing.T) {
	r := newRig(t, "fault-paging", "a", "b")
	procs, taps := r.replicas(t, r.config(), "sentinel-a", "sentinel-b")
	var leader string
	eventually(t, 30*time.Second, "a leader", func() bool { leader = r.holder(t); return leader != "" })
	waitHealthy(t, 2, procs["sentinel-a"], procs["sentinel-b"])

	const frozen = 25 * time.Second
	var frozenAt atomicTime
	sprung := taps[leader].arm(deploymentRequest(http.MethodGet, r.ns, "a"), r.freezeAction(t, frozen, &frozenAt))
	r.setImage(t, "a", "v2")
	waitSprung(t, sprung, 60*time.Second, "the leader's rollback read")
	eventually(t, 10*time.Second, "the freeze", func() bool { return !frozenAt.get().IsZero() })
	thawAt := frozenAt.get().Add(frozen)
	live := sampleProbes(t, []*process{procs["sentinel-a"], procs["sentinel-b"]}, "/healthz")
	r.exp.force("b", true)
	forcedAt := time.Now()
	eventually(t, time.Until(thawAt), "b's page while the API server is frozen", func() bool { return len(r.incidents("b")) == 1 })
	paged := time.Since(forcedAt)
	r.exp.force("b", false)
	recoveredAt := time.Now()
	eventually(t, time.Until(thawAt), "b's resolve while the API server is frozen", func() bool { return r.closed(r.incidents("b")[0]) })
	t.Logf("API server frozen: b paged %s after it began failing, resolved %s after it recovered, %s before the thaw",
		paged.Round(100*time.Millisecond), time.Since(recoveredAt).Round(100*time.Millisecond), time.Until(thawAt).Round(time.Second))
	var ready map[string]string
	eventually(t, time.Until(thawAt), "/readyz naming the API server while it is frozen", func() bool {
		ready = map[string]string{}
		for name, p := range procs {
			ready[name] = p.probe(t, "/readyz")
		}
		return strings.Contains(ready["sentinel-a"], "API server") && strings.Contains(ready["sentinel-b"], "API server")
	})

	// Back: a rolled back once; a leader which has polled long enough to
	// have paged anything it thought open.
	eventually(t, frozen+60*time.Second, "the rollback of a", func() bool { return r.image(t, "a") == "registry.example/demo:v1" })
	if diff := cmp.Diff([]string{"200 ok", "200 ok"}, live()); diff != "" {
		t.Errorf("/healthz of sentinel-a, sentinel-b through the freeze, the worst answer (-want +got):\n%s", diff)
	}
	for name, got := range ready {
		t.Logf("/readyz of %s while the API server was frozen: %s", name, got)
		if !strings.HasPrefix(got, "503 ") || strings.Contains(got, "metrics source") {
			t.Errorf("/readyz of %s while the API server was frozen: %s; want 503 naming the API server alone", name, got)
		}
	}
	eventually(t, 30*time.Second, "both replicas ready after the thaw", func() bool {
		return procs["sentinel-a"].ready() && procs["sentinel-b"].ready()
	})
	p := procs[r.holder(t)]
	if p == nil {
		t.Fatalf("no replica leads after the thaw: %q", r.holder(t))
	}
	polls := p.metric(t, "sentinel_polls_total", nil)
	eventually(t, 30*time.Second, "the leader polling after the thaw", func() bool {
		return p.metric(t, "sentinel_polls_total", nil) >= polls+5
	})
	keys := r.incidents("b")
	if len(keys) != 1 {
		t.Fatalf("%d incidents for b, want one: %v", len(keys), keys)
	}
	t.Logf("PagerDuty received for b: %v", r.story(t, keys[0]))
	if diff := cmp.Diff([]string{"page", "resolve"}, compact(r.story(t, keys[0]))); diff != "" {
		t.Errorf("what PagerDuty received for b, repeats merged (-want +got):\n%s", diff)
	}
	r.wantOneRollback(t, "a", true)
	r.wantNoStrays(t, "a", "b")
}

// replicas starts `sentinel run` replicas with cfg, each through its own
// tap, so a trap catches only that replica's requests.
func (r *rig) replicas(t *testing.T, cfg config.Config, names ...string) (map[string]*process, map[string]*tap) {
	t.Helper()
	procs, taps := map[string]*process{}, map[string]*tap{}
	for _, name := range names {
		tp, kubeconfig := r.tap(t)
		c := cfg
		c.Kubernetes.Kubeconfig = kubeconfig
		taps[name], procs[name] = tp, r.start(t, name, c)
	}
	return procs, taps
}

// closed reports whether PagerDuty's last event under key is a resolve.
func (r *rig) closed(key string) bool {
	evs := r.events(key)
	return len(evs) > 0 && evs[len(evs)-1].Action == "resolve"
}

// The leader dies (SIGKILL) the instant it sends the rollback's write,
// which never reaches the API server. The standby takes the Lease and
// rolls back, once, under the same incident, within lease_duration, the
// jitter of client-go's retries and a poll; the measured takeover is what
// docs/reliability.md quotes.
func TestFaultLeaderKilledBeforeWrite(t *testing.T) {
	r := newRig(t, "fault-kill", "demo")
	cfg := r.config()
	procs, taps := r.replicas(t, cfg, "sentinel-a", "sentinel-b")
	var leader string
	eventually(t, 30*time.Second, "a leader", func() bool { leader = r.holder(t); return leader != "" })
	standby := "sentinel-a"
	if leader == standby {
		standby = "sentinel-b"
	}
	waitHealthy(t, 1, procs["sentinel-a"], procs["sentinel-b"])

	var killedAt atomicTime
	sprung := taps[leader].arm(deploymentRequest(http.MethodPatch, r.ns, "demo"),
		func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
			if err := procs[leader].cmd.Process.Kill(); err != nil {
				t.Errorf("kill %s: %v", leader, err)
			}
			killedAt.set(time.Now())
			// Dropped: the server sees the connection close with the
			// request unread, so it would not end the request's context.
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
		})
	r.setImage(t, "demo", "v2")
	waitSprung(t, sprung, 60*time.Second, "the leader's rollback write")
	eventually(t, 30*time.Second, "the standby taking the Lease", func() bool { return r.holder(t) == standby })
	leased := time.Since(killedAt.get())
	eventually(t, 60*time.Second, "the rollback to v1", func() bool { return r.image(t, "demo") == "registry.example/demo:v1" })
	rolledBack := time.Since(killedAt.get())
	t.Logf("takeover: lease after %s, rollback after %s", leased.Round(100*time.Millisecond), rolledBack.Round(100*time.Millisecond))

	// The README promises the Lease within lease_duration + retry_period
	// of the leader's last renewal, and the rollback at the next poll. But
	// client-go tries to acquire every retry_period × [1, 2.2) (its
	// JitterFactor 1.2), and dates the Lease from when the standby saw the
	// last renewal, up to one such try late: the bound is lease_duration
	// + 2 × 2.2 × retry_period, and the rollback's poll_interval +
	// query_delay later, plus 1 s for its API round trips.
	le, jittered := cfg.Run.LeaderElection, cfg.Run.LeaderElection.RetryPeriod*22/10
	leaseBound := le.LeaseDuration + 2*jittered
	rollbackBound := leaseBound + cfg.Detection.PollInterval + cfg.Metrics.QueryDelay + time.Second
	if leased > leaseBound || rolledBack > rollbackBound {
		t.Errorf("takeover: lease after %s (bound %s), rollback after %s (bound %s)", leased, leaseBound, rolledBack, rollbackBound)
	}
	r.wantOneRollback(t, "demo", true)
	r.wantNoStrays(t, "demo")
}

// The leader dies (SIGKILL) the instant its rollback's write has landed,
// before it hears the answer, records the Event or tells PagerDuty. The
// standby takes over while the workload still fails (the test holds the
// failure until it has paged: had the failure ended first, the standby
// would only resolve) and finds the rollback done: it never rolls back
// again, and its page says sentinel already rolled back in this incident,
// not that a person changed the Deployment since.
func TestFaultLeaderKilledAfterWrite(t *testing.T) {
	r := newRig(t, "fault-kill-after", "demo")
	procs, taps := r.replicas(t, r.config(), "sentinel-a", "sentinel-b")
	var leader string
	eventually(t, 30*time.Second, "a leader", func() bool { leader = r.holder(t); return leader != "" })
	waitHealthy(t, 1, procs["sentinel-a"], procs["sentinel-b"])

	sprung := taps[leader].arm(deploymentRequest(http.MethodPatch, r.ns, "demo"),
		func(w http.ResponseWriter, req *http.Request, forward http.Handler) {
			// The rolled-back pods keep failing until the standby has
			// spoken: otherwise the errors may leave the rate window
			// before it takes the Lease, and it has only a resolve to say.
			r.exp.force("demo", true)
			rec := httptest.NewRecorder()
			forward.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Errorf("the rollback's write answered %d, want it to land: %s", rec.Code, rec.Body)
			}
			if err := procs[leader].cmd.Process.Kill(); err != nil {
				t.Errorf("kill %s: %v", leader, err)
			}
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
		})
	r.setImage(t, "demo", "v2")
	waitSprung(t, sprung, 60*time.Second, "the leader's rollback write")
	eventually(t, 30*time.Second, "the standby taking the Lease", func() bool { h := r.holder(t); return h != "" && h != leader })
	eventually(t, 30*time.Second, "the standby's page", func() bool {
		keys := r.incidents("demo")
		return len(keys) == 1 && len(pageReasons(r.events(keys[0]))) >= 2
	})
	r.exp.unforce("demo")
	eventually(t, 60*time.Second, "the resolve", func() bool { return len(r.incidents("demo")) == 1 && len(r.open()) == 0 })

	key := r.incidents("demo")[0]
	got := pageReasons(r.events(key))
	t.Logf("PagerDuty received for demo: %v; the pages' decisions: %v", r.story(t, key), got)
	want := []string{string(rollback.ReasonOutOfBandImage), string(rollback.ReasonIncidentLimit)}
	if diff := cmp.Diff(want, slices.Compact(got)); diff != "" {
		t.Errorf("the pages' decisions, the leader's then the standby's (-want +got):\n%s", diff)
	}
	if story := r.story(t, key); slices.Contains(story, "rollback_failed") || story[len(story)-1] != "resolve" {
		t.Errorf("what PagerDuty received: %v; want no failure told, and the resolve last", story)
	}
	if diff := cmp.Diff([]string{"registry.example/demo:v1", "3"}, []string{r.image(t, "demo"), r.revision(t, "demo")}); diff != "" {
		t.Errorf("image, revision: one rollback (-want +got):\n%s", diff)
	}
	r.wantNoStrays(t, "demo")
}

// pageReasons is the decision each page (not a rollback notice) told,
// in the order PagerDuty received them.
func pageReasons(events []fakepd.Event) []string {
	var got []string
	for _, e := range events {
		var d struct {
			Kind     string `json:"kind"`
			Decision struct {
				Reason string `json:"reason"`
			} `json:"decision"`
		}
		if e.Action == "trigger" && e.Payload != nil && json.Unmarshal(e.Payload.CustomDetails, &d) == nil && d.Kind == "page" {
			got = append(got, d.Decision.Reason)
		}
	}
	return got
}

// sampleProbes reads path on every replica every half second until the
// returned function is called, which returns each replica's worst answer
// (the first that was not 200, else "200 ok").
func sampleProbes(t *testing.T, procs []*process, path string) func() []string {
	t.Helper()
	worst := make([]string, len(procs))
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			for i, p := range procs {
				if got := p.probe(t, path); worst[i] == "" || strings.HasPrefix(worst[i], "200 ") && !strings.HasPrefix(got, "200 ") {
					worst[i] = got
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	result := func() []string {
		once.Do(func() { close(stop); <-done })
		return worst
	}
	t.Cleanup(func() { result() })
	return result
}

// probe reads path on the replica: "status body", trimmed; a failed
// request is status 0 with the error. It never fails the test, so the
// sampler's goroutine may call it.
func (p *process) probe(t *testing.T, path string) string {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), nil)
	if err != nil {
		return "0 " + err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "0 " + err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "0 " + err.Error()
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, b))
}
