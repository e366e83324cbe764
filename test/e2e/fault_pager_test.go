package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// The faults of the source and of PagerDuty: a Prometheus that accepts
// queries and never answers, PagerDuty answering 500, 429 and not at
// all, and a pager queue fuller than its bound.

// blindPrefix starts the dedup key of every blind notice
// (pager.BlindDedupKey).
const blindPrefix = "sentinel/blind@"

// The source accepts every query and never answers, for longer than
// blind_after polls. Each poll gives up at prometheus.timeout, so none is
// skipped: the blind notice comes blind_after polls after the first
// unanswered one; no workload is paged or resolved meanwhile; /healthz
// stays 200 (the engine completes its polls) while /readyz names the
// source; when the source answers again the blind alert is resolved.
func TestFaultHangingSource(t *testing.T) {
	r := newRig(t, "fault-hang")
	checkConfigRefusesSlowTimeout(t, r.bin)

	src := newHangingProxy(t, r.prom)
	r.exp.force("steady", false)
	r.exp.force("failing", true)
	cfg := r.config()
	cfg.Metrics.Prometheus.URL = src.url
	cfg.Metrics.BlindAfter = 4
	cfg.Paging.PagerDuty.PageWhenBlind = true
	p := r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "the page of the failing workload", func() bool { return len(r.incidents("failing")) == 1 })

	on := time.Now()
	src.hang.Store(true)
	const slack = 2 * time.Second // the switch falls between polls, then query_delay and the timeout
	bound := time.Duration(cfg.Metrics.BlindAfter)*cfg.Detection.PollInterval + slack
	notice := r.accepted(t, bound+10*time.Second, "the blind notice", func(q fakepd.Request) bool {
		return q.Action == "trigger" && strings.HasPrefix(q.DedupKey, blindPrefix)
	})
	blind := notice.At.Sub(on)
	t.Logf("blind after %s (blind_after=%d, poll %s, prometheus.timeout %s)", blind.Round(100*time.Millisecond),
		cfg.Metrics.BlindAfter, cfg.Detection.PollInterval, cfg.Metrics.Prometheus.Timeout)
	if blind > bound {
		t.Errorf("blind notice %s after the source hung, want at most %s (blind_after polls + %s)", blind, bound, slack)
	}
	p.whileBlind(t, 3)

	off := time.Now()
	src.hang.Store(false)
	sighted := r.accepted(t, 30*time.Second, "the blind alert's resolve", func(q fakepd.Request) bool {
		return q.Action == "resolve" && q.DedupKey == notice.DedupKey
	})
	t.Logf("blind alert resolved %s after the source answered again", sighted.At.Sub(off).Round(100*time.Millisecond))
	eventually(t, 10*time.Second, "/readyz 200 again", p.ready)

	var during []string // what PagerDuty received from the hang to the blind resolve
	for _, q := range r.pd.RequestLog() {
		if !q.At.Before(on) && !q.At.After(sighted.At) {
			during = append(during, q.Action+" "+q.DedupKey)
		}
	}
	want := []string{"trigger " + notice.DedupKey, "resolve " + notice.DedupKey}
	if diff := cmp.Diff(want, during); diff != "" {
		t.Errorf("PagerDuty's requests while blind: only the blind notice (-want +got):\n%s", diff)
	}

	r.exp.force("failing", false)
	eventually(t, 30*time.Second, "every alert resolved", func() bool { return len(r.open()) == 0 })
	keys := r.incidents("failing")
	if len(keys) != 1 {
		t.Fatalf("%d incidents for the failing workload, want the one open before the source hung: %v", len(keys), keys)
	}
	if diff := cmp.Diff([]string{"page", "resolve"}, r.story(t, keys[0])); diff != "" {
		t.Errorf("the failing workload's alert (-want +got):\n%s", diff)
	}
	if keys := r.incidents("steady"); len(keys) != 0 {
		t.Errorf("the steady workload was paged: %v", keys)
	}
}

// The source hangs already when sentinel starts (a rollout of sentinel
// during a Prometheus outage). The warm-up's queries of past instants
// must not hold off the live polls (they did: 60 queries of a 1 m
// warm-up, each waiting its timeout, made the notice come after 44 s):
// the blind notice comes within blind_after polls of the first live one,
// /healthz stays 200 and /readyz names the source.
func TestFaultSourceHangsAtStart(t *testing.T) {
	r := newRig(t, "fault-hang-start")
	src := newHangingProxy(t, r.prom)
	src.hang.Store(true)
	cfg := r.config()
	cfg.Metrics.Prometheus.URL = src.url
	cfg.Metrics.BlindAfter = 4
	cfg.Paging.PagerDuty.PageWhenBlind = true
	started := time.Now()
	p := r.launch(t, "sentinel-a", cfg)
	notice := r.accepted(t, 90*time.Second, "the blind notice", func(q fakepd.Request) bool {
		return q.Action == "trigger" && strings.HasPrefix(q.DedupKey, blindPrefix)
	})
	blind := notice.At.Sub(started)
	t.Logf("blind %s after a start with the source hanging (blind_after=%d, poll %s, run.warm_up %s)",
		blind.Round(100*time.Millisecond), cfg.Metrics.BlindAfter, cfg.Detection.PollInterval, cfg.Run.WarmUp)
	// The warm-up gives up after blind_after unanswered queries, then
	// blind_after live polls; the slack is the process's start, the
	// caches' sync and the Lease.
	const slack = 5 * time.Second
	if bound := 2*time.Duration(cfg.Metrics.BlindAfter)*cfg.Detection.PollInterval + slack; blind > bound {
		t.Errorf("blind notice %s after the start, want at most %s (2 x blind_after polls + %s)", blind, bound, slack)
	}
	if code, body := p.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while blind: %d %s", code, body)
	}
	if code, body := p.get(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "metrics source (prometheus)") {
		t.Errorf("/readyz while blind: %d %q, want 503 naming the metrics source", code, body)
	}
}

// launch runs `sentinel run` as replica name with cfg, without waiting
// for it to be ready.
func (r *rig) launch(t *testing.T, name string, cfg config.Config) *process {
	t.Helper()
	cfg.Run.ListenAddress = "LISTEN"
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal the config: %v", err)
	}
	return startProcess(t, r.bin, name, string(b), "SENTINEL_E2E_ROUTING_KEY="+strings.Repeat("k", fakepd.RoutingKeyLen))
}

// checkConfigRefusesSlowTimeout: `sentinel check-config` refuses a
// query timeout that cannot fit in the poll interval, naming the field.
func checkConfigRefusesSlowTimeout(t *testing.T, bin string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("detection:\n  poll_interval: 15s\nmetrics:\n  prometheus:\n    timeout: 14m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check-config", path).CombinedOutput()
	if err == nil {
		t.Errorf("check-config accepted a 14m query timeout with a 15s poll:\n%s", out)
	}
	if !strings.Contains(string(out), "metrics.prometheus.timeout") {
		t.Errorf("check-config does not name metrics.prometheus.timeout:\n%s", out)
	}
}

// PagerDuty answers the incident's first events 500, then 429 with
// Retry-After, then not at all for longer than paging.pagerduty.timeout.
// Every event arrives once, in order; the wait PagerDuty asked for is
// kept; the alert is closed and the Deployment rolled back.
func TestFaultPagerDutyErrors(t *testing.T) {
	r := newRig(t, "fault-pd", "demo")
	cfg := r.config()
	// The resolve comes once the faults are through, so that it does not
	// replace the rollback notice still queued behind the page (which the
	// queue does by design: the alert is over).
	cfg.Detection.ResolveAfter = 25 * time.Second
	p := r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "a leader", func() bool { return r.holder(t) != "" })
	waitHealthy(t, 1, p)

	const throttle = 3 * time.Second
	r.pd.FailNext(2, http.StatusInternalServerError)
	r.pd.ThrottleNext(1, throttle)
	r.pd.HangNext(1)
	from := len(r.pd.RequestLog())
	r.setImage(t, "demo", "v2")
	eventually(t, 90*time.Second, "the incident's resolve", func() bool {
		keys := r.incidents("demo")
		return len(keys) == 1 && len(r.open()) == 0
	})

	reqs := r.pd.RequestLog()[from:]
	var got []string
	for _, q := range reqs {
		got = append(got, fmt.Sprintf("%d %s", q.Status, q.Action))
	}
	want := []string{"500 trigger", "500 trigger", "429 trigger", "0 trigger", "202 trigger", "202 trigger", "202 resolve"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("PagerDuty's requests, status and action (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"page", "rollback", "resolve"}, r.story(t, r.incidents("demo")[0])); diff != "" {
		t.Errorf("what PagerDuty accepted (-want +got):\n%s", diff)
	}
	if waited := reqs[3].At.Sub(reqs[2].At); waited < throttle {
		t.Errorf("the request after a 429 with Retry-After %s came %s later", throttle, waited)
	} else {
		t.Logf("next request %s after a 429 with Retry-After %s", waited.Round(100*time.Millisecond), throttle)
	}
	if waited := reqs[4].At.Sub(reqs[3].At); waited < cfg.Paging.PagerDuty.Timeout {
		t.Errorf("the request after one left unanswered came %s later, want at least the timeout %s", waited, cfg.Paging.PagerDuty.Timeout)
	}
	t.Logf("after a request left unanswered, the next %s later (timeout %s, then the backoff)",
		reqs[4].At.Sub(reqs[3].At).Round(100*time.Millisecond), cfg.Paging.PagerDuty.Timeout)
	t.Logf("page accepted %s after its first attempt", reqs[4].At.Sub(reqs[0].At).Round(100*time.Millisecond))
	if img := r.image(t, "demo"); img != "registry.example/demo:v1" {
		t.Errorf("image %s, want the rollback to v1", img)
	}
}

// PagerDuty throttles per routing key (its Events API's rate limit is
// per integration key), so a 429 with Retry-After holds every incident's
// events, not only the one that was answered: a second incident paged
// during the wait is sent once it is over.
func TestFaultPagerDutyThrottle(t *testing.T) {
	r := newRig(t, "fault-throttle")
	r.start(t, "sentinel-a", r.config())
	eventually(t, 30*time.Second, "a leader", func() bool { return r.holder(t) != "" })

	const throttle = 8 * time.Second
	r.pd.ThrottleNext(1, throttle)
	r.exp.force("w1", true)
	eventually(t, 30*time.Second, "the first page throttled", func() bool {
		log := r.pd.RequestLog()
		return len(log) > 0 && log[0].Status == http.StatusTooManyRequests
	})
	r.exp.force("w2", true) // paged a few seconds later, within the wait
	eventually(t, 60*time.Second, "both pages", func() bool { return len(r.incidents("w1")) == 1 && len(r.incidents("w2")) == 1 })

	log := r.pd.RequestLog()
	var got []string
	for _, q := range log[:3] {
		got = append(got, fmt.Sprintf("%d %s", q.Status, strings.Split(strings.TrimPrefix(q.DedupKey, "sentinel/"+r.ns+"/"), "@")[0]))
	}
	if diff := cmp.Diff([]string{"429 w1", "202 w1", "202 w2"}, sortedAfter(got, 1)); diff != "" {
		t.Errorf("PagerDuty's first requests (-want +got):\n%s", diff)
	}
	if waited := log[1].At.Sub(log[0].At); waited < throttle {
		t.Errorf("the next request came %s after a 429 with Retry-After %s", waited.Round(10*time.Millisecond), throttle)
	} else {
		t.Logf("next request %s after a 429 with Retry-After %s", waited.Round(100*time.Millisecond), throttle)
	}

	r.exp.force("w1", false)
	r.exp.force("w2", false)
	eventually(t, 30*time.Second, "both alerts resolved", func() bool { return len(r.open()) == 0 })
}

// sortedAfter sorts s from index i on: requests sent together arrive in
// any order.
func sortedAfter(s []string, i int) []string {
	out := append([]string(nil), s...)
	slices.Sort(out[i:])
	return out
}

// More incidents open than paging.pagerduty.queue_size while PagerDuty
// hangs. The queue holds queue_size incidents; the pages it cannot hold
// are refused, counted on /metrics and sent again at each poll, so once
// PagerDuty is back every incident still failing is paged. Then every
// incident ends while PagerDuty fails: no resolve is dropped, so no alert
// stays open.
func TestFaultFullQueue(t *testing.T) {
	r := newRig(t, "fault-queue")
	cfg := r.config()
	cfg.Paging.PagerDuty.QueueSize = 2
	p := r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "a leader", func() bool { return r.holder(t) != "" })

	workloads := []string{"w1", "w2", "w3", "w4"}
	refused := func() float64 {
		return p.metric(t, "sentinel_pages_failed_total", map[string]string{"kind": "page"})
	}
	r.pd.Down(0)
	for _, w := range workloads {
		r.exp.force(w, true)
	}
	eventually(t, 30*time.Second, "four incidents open", func() bool {
		return p.metric(t, "sentinel_incidents_open", nil) == float64(len(workloads))
	})
	eventually(t, 10*time.Second, "the pages the queue cannot hold refused", func() bool {
		return refused() >= float64(len(workloads)-cfg.Paging.PagerDuty.QueueSize)
	})
	if n := p.metric(t, "sentinel_pager_queue_length", nil); n > float64(cfg.Paging.PagerDuty.QueueSize) {
		t.Errorf("sentinel_pager_queue_length %g with PagerDuty down, want at most queue_size (%d)", n, cfg.Paging.PagerDuty.QueueSize)
	}

	up := time.Now()
	r.pd.Up()
	eventually(t, 30*time.Second, "every failing workload paged", func() bool {
		for _, w := range workloads {
			if len(r.incidents(w)) == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("every incident paged %s after PagerDuty recovered (queue_size=%d, %d incidents, %g refusals)",
		time.Since(up).Round(time.Second), cfg.Paging.PagerDuty.QueueSize, len(workloads), refused())

	r.pd.Down(http.StatusServiceUnavailable)
	for _, w := range workloads {
		r.exp.force(w, false)
	}
	eventually(t, 30*time.Second, "every incident ended", func() bool {
		return p.metric(t, "sentinel_incidents_open", nil) == 0
	})
	up = time.Now()
	r.pd.Up()
	eventually(t, 60*time.Second, "every incident's resolve delivered", func() bool {
		return len(r.open()) == 0 && len(r.resolved()) == len(workloads)
	})
	t.Logf("every alert closed %s after PagerDuty recovered again", time.Since(up).Round(time.Second))

	for _, w := range workloads {
		keys := r.incidents(w)
		if len(keys) != 1 {
			t.Errorf("%s paged under %d dedup keys, want one: %v", w, len(keys), keys)
			continue
		}
		if diff := cmp.Diff([]string{"page", "resolve"}, r.story(t, keys[0])); diff != "" {
			t.Errorf("%s's alert (-want +got):\n%s", w, diff)
		}
	}
	if n := p.metric(t, "sentinel_pages_failed_total", map[string]string{"kind": "resolve"}); n != 0 {
		t.Errorf("sentinel_pages_failed_total{kind=\"resolve\"} %g, want 0: a resolve is never refused", n)
	}
	if n := p.metric(t, "sentinel_pager_queue_length", nil); n != 0 {
		t.Errorf("sentinel_pager_queue_length %g once delivered, want 0", n)
	}
}

// resolved are the workloads of the namespace whose incident's resolve
// PagerDuty accepted (a resolve names no workload but its dedup key
// does: sentinel/<namespace>/<name>@<onset>).
func (r *rig) resolved() []string {
	var ws []string
	for _, e := range r.pd.Events() {
		rest, ok := strings.CutPrefix(e.DedupKey, "sentinel/"+r.ns+"/")
		if w, _, found := strings.Cut(rest, "@"); ok && found && e.Action == "resolve" {
			ws = append(ws, w)
		}
	}
	return ws
}

// accepted waits for the first request PagerDuty answered 202 that
// matches, and returns it.
func (r *rig) accepted(t *testing.T, timeout time.Duration, what string, match func(fakepd.Request) bool) fakepd.Request {
	t.Helper()
	var found fakepd.Request
	eventually(t, timeout, what, func() bool {
		for _, q := range r.pd.RequestLog() {
			if q.Status == http.StatusAccepted && match(q) {
				found = q
				return true
			}
		}
		return false
	})
	return found
}

// whileBlind waits for n more polls, each without an answer from the
// source, checking at each that the replica is live (/healthz 200: its
// polls complete) and not ready for the source's sake (/readyz 503
// naming it).
func (p *process) whileBlind(t *testing.T, n int) {
	t.Helper()
	until := p.metric(t, "sentinel_polls_total", nil) + float64(n)
	eventually(t, time.Duration(n+5)*time.Second, fmt.Sprintf("%d polls while blind", n), func() bool {
		if code, body := p.get(t, "/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz while blind: %d %s", code, body)
		}
		if code, body := p.get(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "metrics source (prometheus)") {
			t.Fatalf("/readyz while blind: %d %q, want 503 naming the metrics source", code, body)
		}
		if p.metric(t, "sentinel_blind", nil) != 1 {
			t.Fatal("sentinel_blind is not 1 while blind")
		}
		return p.metric(t, "sentinel_polls_total", nil) >= until
	})
}

// hangingProxy stands between sentinel and Prometheus; while hang is set
// it accepts every request and never answers, until the request's client
// gives up (or the test ends).
type hangingProxy struct {
	url  string
	hang atomic.Bool
}

func newHangingProxy(t *testing.T, target string) *hangingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(u)
	closing := make(chan struct{})
	hp := &hangingProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !hp.hang.Load() {
			forward.ServeHTTP(w, req)
			return
		}
		select {
		case <-req.Context().Done():
		case <-closing:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(closing) }) // first: release the hanging requests
	hp.url = srv.URL
	return hp
}
