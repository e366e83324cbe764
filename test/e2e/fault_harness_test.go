package e2e

// The fault suite (fault_*_test.go) runs the real `sentinel run` binary
// against the test cluster, a real Prometheus and the PagerDuty fake, and
// breaks one thing under it per test. This file is its rig: the
// workloads, the sidecars' metrics, a tap in front of the API server
// that lets a test act at the instant sentinel makes a given request,
// and sentinel's processes. Every test asserts on what PagerDuty received
// and what the cluster holds; docs/reliability.md tabulates them.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/test/fakepd"
	"github.com/sentinel-sre/sentinel/test/testenv"
)

// rig is one fault test's world: Deployments of the demo chart in one
// namespace, their sidecars' metrics (fleet) scraped every second by a
// real Prometheus, the PagerDuty fake, and sentinel built from this tree
// running as the ServiceAccount of deploy/base.
type rig struct {
	c    *cluster
	ns   string
	exp  *fleet
	prom string
	pd   *fakepd.Server
	bin  string
	// token is sentinel's ServiceAccount token; direct is a kubeconfig
	// straight to the API server with it.
	token  string
	direct string
	lease  string
}

// newRig installs a release of the demo chart (image v1) for each
// workload and starts the rest.
func newRig(t *testing.T, name string, workloads ...string) *rig {
	t.Helper()
	var f *fleet
	r := newRigServing(t, name, func(c *cluster, ns string) http.Handler {
		f = newFleet(t, c.client, ns)
		return f
	}, workloads...)
	r.exp = f
	return r
}

// newRigServing is newRig with the sidecars' metrics served by the
// handler serve makes for the namespace.
func newRigServing(t *testing.T, name string, serve func(c *cluster, ns string) http.Handler, workloads ...string) *rig {
	t.Helper()
	c := needCluster(t)
	r := &rig{c: c, ns: c.namespace(t, name), pd: fakepd.New(t), lease: "sentinel-" + name}
	for _, w := range workloads {
		r.install(t, w)
	}
	srv := httptest.NewServer(serve(c, r.ns))
	t.Cleanup(srv.Close)
	r.prom = startPrometheus(t, strings.TrimPrefix(srv.URL, "http://"))
	sa := c.serviceAccount(t, "sentinel")
	r.token = sa.BearerToken
	r.direct = r.kubeconfig(t, sa.Host, caData(t, c))
	r.bin = buildSentinel(t)
	return r
}

// install helm-installs the demo chart as release name (its Deployment
// is called name) and waits for its first ReplicaSet.
func (r *rig) install(t *testing.T, name string) {
	t.Helper()
	r.c.helmCmd(t, "install", name, chart(), "--namespace", r.ns, "--set", "image=registry.example/demo:v1")
	eventually(t, 30*time.Second, name+" at revision 1", func() bool {
		d, err := r.c.client.AppsV1().Deployments(r.ns).Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && d.Annotations["deployment.kubernetes.io/revision"] == "1"
	})
}

// setImage is the out-of-band push of the incident: kubectl set image.
func (r *rig) setImage(t *testing.T, name, tag string) {
	t.Helper()
	r.c.kubectl(t, "-n", r.ns, "set", "image", "deployment/"+name, "app=registry.example/demo:"+tag)
}

// image and revision are what the cluster holds for a workload now.
func (r *rig) image(t *testing.T, name string) string {
	t.Helper()
	d, err := r.c.client.AppsV1().Deployments(r.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return imageOf(d)
}

func (r *rig) revision(t *testing.T, name string) string {
	t.Helper()
	d, err := r.c.client.AppsV1().Deployments(r.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return d.Annotations["deployment.kubernetes.io/revision"]
}

// rollbackEvents counts the SentinelRollback Events of the namespace:
// one per rollback written.
func (r *rig) rollbackEvents(t *testing.T) int {
	t.Helper()
	evs, err := r.c.client.CoreV1().Events(r.ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reason=SentinelRollback"})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return len(evs.Items)
}

// kubeconfig writes a kubeconfig for sentinel's ServiceAccount at server
// (ca nil for a plain-HTTP server such as a tap, which adds the token).
func (r *rig) kubeconfig(t *testing.T, server string, ca []byte) string {
	t.Helper()
	cluster := fmt.Sprintf("{server: %q}", server)
	if ca != nil {
		cluster = fmt.Sprintf("{server: %q, certificate-authority-data: %q}", server, base64.StdEncoding.EncodeToString(ca))
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: %s}]
users: [{name: sentinel, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: sentinel}}]
current-context: test
`, cluster, r.token)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// config is sentinel's configuration for the rig, with the e2e suite's
// short durations (a poll a second) and a 4 s Lease; tests change what
// their fault needs before starting a replica.
func (r *rig) config() config.Config {
	c := testConfig(r.ns)
	c.Detection.RateWindow = 4 * time.Second
	c.Kubernetes.Kubeconfig = r.direct
	c.Kubernetes.VerifyTimeout = 20 * time.Second
	c.Kubernetes.RequestTimeout = 2 * time.Second
	c.Kubernetes.RollbackTimeout = 90 * time.Second
	c.Metrics.Source = "prometheus"
	c.Metrics.QueryDelay = 300 * time.Millisecond
	c.Metrics.Prometheus.URL = r.prom
	c.Metrics.Prometheus.Timeout = 650 * time.Millisecond
	c.Paging.PagerDuty.Enabled = true
	c.Paging.PagerDuty.URL = r.pd.EnqueueURL()
	c.Paging.PagerDuty.RoutingKeyEnv = "SENTINEL_E2E_ROUTING_KEY"
	c.Paging.PagerDuty.Timeout = 2 * time.Second
	c.Run.WarmUp = time.Minute
	c.Run.LeaderElection = config.LeaderElection{Enabled: true, Namespace: "sentinel", LeaseName: r.lease,
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second}
	return c
}

// start runs `sentinel run` as replica name with cfg and waits until it
// is ready.
func (r *rig) start(t *testing.T, name string, cfg config.Config) *process {
	t.Helper()
	cfg.Run.ListenAddress = "LISTEN"
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal the config: %v", err)
	}
	p := startProcess(t, r.bin, name, string(b), "SENTINEL_E2E_ROUTING_KEY="+strings.Repeat("k", fakepd.RoutingKeyLen))
	eventually(t, 60*time.Second, name+" ready", p.ready)
	return p
}

// holder is the replica holding the Lease, or "".
func (r *rig) holder(t *testing.T) string {
	t.Helper()
	l, err := r.c.client.CoordinationV1().Leases("sentinel").Get(t.Context(), r.lease, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// freeze stops kube-apiserver with SIGSTOP until thaw, or until the test
// ends.
func (r *rig) freeze(t *testing.T) {
	t.Helper()
	if err := testenv.Freeze(t.Context(), r.c.env.Dir, "kube-apiserver"); err != nil {
		t.Fatalf("freeze kube-apiserver: %v", err)
	}
	t.Cleanup(func() { r.thaw(t) })
}

func (r *rig) thaw(t *testing.T) {
	t.Helper()
	if err := testenv.Thaw(context.WithoutCancel(t.Context()), r.c.env.Dir, "kube-apiserver"); err != nil {
		t.Errorf("thaw kube-apiserver: %v", err)
	}
}

// events returns PagerDuty's accepted events of one dedup key, in order.
func (r *rig) events(key string) []fakepd.Event {
	var out []fakepd.Event
	for _, e := range r.pd.Events() {
		if e.DedupKey == key {
			out = append(out, e)
		}
	}
	return out
}

// incidents are the dedup keys PagerDuty received for a workload's
// triggers (its summary names namespace/name), in order of first event.
func (r *rig) incidents(workload string) []string {
	var keys []string
	for _, e := range r.pd.Events() {
		if e.Action == "trigger" && e.Payload != nil && strings.Contains(e.Payload.Summary, r.ns+"/"+workload) &&
			!slices.Contains(keys, e.DedupKey) {
			keys = append(keys, e.DedupKey)
		}
	}
	return keys
}

// open are the dedup keys whose last event is not a resolve: alerts
// still open in PagerDuty.
func (r *rig) open() []string {
	last := map[string]string{}
	for _, e := range r.pd.Events() {
		last[e.DedupKey] = e.Action
	}
	var keys []string
	for k, a := range last {
		if a != "resolve" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// fleet plays the sidecars of the namespace's Deployments:
// istio_requests_total at 40 req/s each, 90% failing while a Deployment
// runs image v2 or the test forces it to fail. It follows the
// Deployments from a copy refreshed in the background, so a frozen API
// server freezes what it knows, not its answers; a Deployment deleted
// stops being reported, as its pods' sidecars would.
type fleet struct {
	ns     string
	mu     sync.Mutex
	images map[string]string // workload → image last seen
	forced map[string]bool   // workload → failing, set by the test
	// silenced workloads are not reported although their Deployment
	// exists: their pods stopped serving (set by the test).
	silenced map[string]bool
	last     time.Time
	ok, ko   map[string]float64
}

func newFleet(t *testing.T, client kubernetes.Interface, ns string) *fleet {
	f := &fleet{ns: ns, images: map[string]string{}, forced: map[string]bool{}, silenced: map[string]bool{},
		ok: map[string]float64{}, ko: map[string]float64{}}
	f.refresh(t.Context(), client, ns)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
				f.refresh(ctx, client, ns)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *fleet) refresh(ctx context.Context, client kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	l, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return // the API server is away: keep what we knew
	}
	images := map[string]string{}
	for i := range l.Items {
		images[l.Items[i].Name] = imageOf(&l.Items[i])
	}
	f.mu.Lock()
	f.images = images
	f.mu.Unlock()
}

// force makes a workload fail (or not) whatever its image, and reports
// it even without a Deployment; unforce gives it back to its image.
func (f *fleet) force(workload string, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forced[workload] = failing
}

func (f *fleet) unforce(workload string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.forced, workload)
}

// silence stops reporting a workload whose Deployment still exists, as
// when its pods stop serving: their sidecars no longer answer the scrape.
func (f *fleet) silence(workload string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.silenced[workload] = true
}

func (f *fleet) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	now := time.Now()
	failing := map[string]bool{}
	for name, image := range f.images {
		failing[name] = strings.HasSuffix(image, ":v2")
	}
	for name, bad := range f.forced {
		failing[name] = bad
	}
	for name := range f.silenced {
		delete(failing, name)
	}
	for name, bad := range failing {
		if f.last.IsZero() {
			break
		}
		n := 40 * now.Sub(f.last).Seconds()
		if bad {
			f.ok[name], f.ko[name] = f.ok[name]+0.1*n, f.ko[name]+0.9*n
		} else {
			f.ok[name] += n
		}
	}
	f.last = now
	var b strings.Builder
	b.WriteString("# TYPE istio_requests_total counter\n")
	names := make([]string, 0, len(failing))
	for name := range failing {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		labels := fmt.Sprintf(`destination_workload=%q,destination_workload_namespace=%q,reporter="destination"`, name, f.ns)
		fmt.Fprintf(&b, "istio_requests_total{%s,response_code=\"200\"} %f\n", labels, f.ok[name])
		fmt.Fprintf(&b, "istio_requests_total{%s,response_code=\"500\"} %f\n", labels, f.ko[name])
	}
	f.mu.Unlock()
	_, _ = io.WriteString(w, b.String())
}

// tap is an HTTP reverse proxy between sentinel and the API server; it
// authenticates as sentinel's ServiceAccount itself, since client-go
// sends no token over plain HTTP. A
// test arms it with a trap: the first request the trap matches is handed
// to the trap's action (with the proxy, to forward it or not) instead of
// being forwarded, so the test acts at the instant sentinel makes that
// request.
type tap struct {
	url   string
	proxy *httputil.ReverseProxy

	mu   sync.Mutex
	trap *trap
}

type trap struct {
	match  func(*http.Request) bool
	act    func(w http.ResponseWriter, r *http.Request, forward http.Handler)
	sprung chan struct{}
}

func newTap(t *testing.T, c *cluster, token string) *tap {
	t.Helper()
	target, err := url.Parse(c.rest.Host)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caData(t, c)) {
		t.Fatal("the cluster CA has no certificate")
	}
	tp := &tap{proxy: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("Authorization", "Bearer "+token)
		},
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		FlushInterval: -1, // watches stream
		// Requests sentinel gave up on are the point of the tests.
		ErrorLog: log.New(io.Discard, "", 0),
	}}
	srv := httptest.NewServer(tp)
	t.Cleanup(srv.Close)
	tp.url = srv.URL
	return tp
}

func (tp *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tp.mu.Lock()
	tr := tp.trap
	if tr != nil && tr.match(r) {
		tp.trap = nil
	} else {
		tr = nil
	}
	tp.mu.Unlock()
	if tr == nil {
		tp.proxy.ServeHTTP(w, r)
		return
	}
	close(tr.sprung)
	tr.act(w, r, tp.proxy)
}

// arm sets a trap; the returned channel closes when it springs.
func (tp *tap) arm(match func(*http.Request) bool, act func(w http.ResponseWriter, r *http.Request, forward http.Handler)) <-chan struct{} {
	tr := &trap{match: match, act: act, sprung: make(chan struct{})}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.trap = tr
	return tr.sprung
}

// deploymentRequest matches one verb on one Deployment by name (not the
// informers' list and watch of the collection).
func deploymentRequest(method, ns, name string) func(*http.Request) bool {
	path := "/apis/apps/v1/namespaces/" + ns + "/deployments/" + name
	return func(r *http.Request) bool {
		return r.Method == method && r.URL.Path == path && r.URL.Query().Get("watch") == ""
	}
}

// waitSprung waits for a trap to spring.
func waitSprung(t *testing.T, sprung <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-sprung:
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// story is what PagerDuty received under one dedup key: each event's
// kind (page, rollback, rollback_failed, …) from its custom details, or
// "resolve".
func (r *rig) story(t *testing.T, key string) []string {
	t.Helper()
	var out []string
	for _, e := range r.events(key) {
		if e.Action == "resolve" {
			out = append(out, "resolve")
			continue
		}
		var d struct {
			Kind string `json:"kind"`
		}
		if e.Payload == nil || json.Unmarshal(e.Payload.CustomDetails, &d) != nil {
			t.Fatalf("event %s without custom details: %s", key, e.Raw)
		}
		out = append(out, d.Kind)
	}
	return out
}

// freezeAction freezes kube-apiserver, thaws it after d, and forwards the
// request into the frozen server: sentinel's request hangs as it would on
// a machine that stopped. It runs on the tap's goroutine, so it reports
// failures with Errorf.
func (r *rig) freezeAction(t *testing.T, d time.Duration, frozenAt *atomicTime) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, req *http.Request, forward http.Handler) {
		if err := testenv.Freeze(context.WithoutCancel(t.Context()), r.c.env.Dir, "kube-apiserver"); err != nil {
			t.Errorf("freeze kube-apiserver: %v", err)
		}
		frozenAt.set(time.Now())
		time.AfterFunc(d, func() { r.thaw(t) })
		t.Cleanup(func() { r.thaw(t) })
		forward.ServeHTTP(w, req)
	}
}

// atomicTime is an instant set by one goroutine and read by another.
type atomicTime struct {
	mu sync.Mutex
	t  time.Time
}

func (a *atomicTime) set(t time.Time) { a.mu.Lock(); a.t = t; a.mu.Unlock() }
func (a *atomicTime) get() time.Time  { a.mu.Lock(); defer a.mu.Unlock(); return a.t }

// tap starts a tap in front of the API server for sentinel and returns
// it with a kubeconfig through it.
func (r *rig) tap(t *testing.T) (*tap, string) {
	t.Helper()
	tp := newTap(t, r.c, r.token)
	return tp, r.kubeconfig(t, tp.url, nil)
}

// get fetches path from the replica's HTTP server.
func (p *process) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path))
	if err != nil {
		t.Fatalf("GET %s of %s: %v", path, p.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s of %s: %v", path, p.name, err)
	}
	return resp.StatusCode, string(b)
}

// metric is the value of the series of name with exactly labels on the
// replica's /metrics; 0 when there is none.
func (p *process) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	code, body := p.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics of %s: %d", p.name, code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics of %s: %v", p.name, err)
	}
	return valueOf(families[name], labels)
}

func (p *process) String() string { return p.name }
