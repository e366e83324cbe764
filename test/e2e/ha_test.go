package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// exporter plays the demo workload's Envoy sidecars: istio_requests_total
// counters at 40 req/s that fail 90% while the Deployment runs image v2.
type exporter struct {
	client kubernetes.Interface
	ns     string

	mu     sync.Mutex
	last   time.Time
	ok, ko float64
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	failing := false
	if d, err := e.client.AppsV1().Deployments(e.ns).Get(r.Context(), "demo", metav1.GetOptions{}); err == nil {
		failing = strings.HasSuffix(imageOf(d), ":v2")
	}
	e.mu.Lock()
	now := time.Now()
	if !e.last.IsZero() {
		n := 40 * now.Sub(e.last).Seconds()
		if failing {
			e.ok, e.ko = e.ok+0.1*n, e.ko+0.9*n
		} else {
			e.ok += n
		}
	}
	e.last = now
	ok, ko := e.ok, e.ko
	e.mu.Unlock()
	labels := fmt.Sprintf(`destination_workload="demo",destination_workload_namespace=%q,reporter="destination"`, e.ns)
	fmt.Fprintf(w, "# TYPE istio_requests_total counter\n")
	fmt.Fprintf(w, "istio_requests_total{%s,response_code=\"200\"} %f\n", labels, ok)
	fmt.Fprintf(w, "istio_requests_total{%s,response_code=\"500\"} %f\n", labels, ko)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs a real Prometheus (Debian's package) scraping the
// exporter every second, until the test ends.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not installed (scripts/testenv.sh build installs it): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: istio
    static_configs:
      - targets: [%q]
`, target)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	eventually(t, 60*time.Second, "prometheus scraping the exporter", func() bool {
		resp, err := http.Get(url + `/api/v1/query?query=up{job="istio"}==1`)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"job":"istio"`)
	})
	return url
}

// process is one `sentinel run`.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	port int
	done chan error
}

func buildSentinel(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sentinel")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/sentinel").CombinedOutput()
	if err != nil {
		t.Fatalf("build sentinel: %v\n%s", err, out)
	}
	return bin
}

func startProcess(t *testing.T, bin, name, cfgTemplate string, env ...string) *process {
	t.Helper()
	p := &process{name: name, logs: &bytes.Buffer{}, port: freePort(t), done: make(chan error, 1)}
	cfg := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(cfgTemplate, "LISTEN", fmt.Sprintf("127.0.0.1:%d", p.port))), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", cfg)
	p.cmd.Env = append(os.Environ(), append(env, "POD_NAME="+name)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.logs.String())
		}
	})
	return p
}

func (p *process) ready() bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", p.port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Two `sentinel run` processes against the real cluster and a real
// Prometheus: the leader dies mid-incident, the standby takes over, the
// incident is paged under one dedup key and rolled back once.
func TestLeaderDiesMidIncident(t *testing.T) {
	c := needCluster(t)
	ns := c.namespace(t, "e2e-ha")
	c.install(t, ns)
	exp := httptest.NewServer(&exporter{client: c.client, ns: ns})
	t.Cleanup(exp.Close)
	promURL := startPrometheus(t, strings.TrimPrefix(exp.URL, "http://"))
	pd := fakepd.New(t)

	// sentinel runs as the ServiceAccount of deploy/base/rbac.yaml.
	sa := c.serviceAccount(t, "sentinel")
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority-data: %q}}]
users: [{name: sentinel, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: sentinel}}]
current-context: test
`, sa.Host, base64.StdEncoding.EncodeToString(caData(t, c)), sa.BearerToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	lease := "sentinel-" + ns
	cfg := fmt.Sprintf(`detection:
  poll_interval: 1s
  rate_window: 4s
  for: 2s
  resolve_after: 3s
rollback:
  healthy:
    min_duration: 3s
kubernetes:
  kubeconfig: %q
  namespaces: [%q]
  verify_timeout: 20s
metrics:
  source: prometheus
  query_delay: 300ms
  prometheus:
    url: %q
    timeout: 650ms
paging:
  pagerduty:
    enabled: true
    url: %q
    routing_key_env: SENTINEL_E2E_ROUTING_KEY
run:
  listen_address: LISTEN
  leader_election:
    namespace: sentinel
    lease_name: %q
    lease_duration: 4s
    renew_deadline: 3s
    retry_period: 1s
`, kubeconfig, ns, promURL, pd.EnqueueURL(), lease)
	bin := buildSentinel(t)
	key := "SENTINEL_E2E_ROUTING_KEY=" + strings.Repeat("k", 32)
	procs := map[string]*process{
		"sentinel-a": startProcess(t, bin, "sentinel-a", cfg, key),
		"sentinel-b": startProcess(t, bin, "sentinel-b", cfg, key),
	}
	eventually(t, 60*time.Second, "both replicas ready", func() bool {
		return procs["sentinel-a"].ready() && procs["sentinel-b"].ready()
	})
	holder := func() string {
		l, err := c.client.CoordinationV1().Leases("sentinel").Get(t.Context(), lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return holder() != "" })
	waitHealthy(t, 1, procs["sentinel-a"], procs["sentinel-b"])

	c.kubectl(t, "-n", ns, "set", "image", "deployment/demo", "app=registry.example/demo:v2")
	eventually(t, 60*time.Second, "the page", func() bool { return len(pd.Events()) > 0 })
	leader := holder()
	procs[leader].cmd.Process.Kill() // no goodbye: the lease must expire
	var standby string
	for name := range procs {
		if name != leader {
			standby = name
		}
	}
	eventually(t, 30*time.Second, "the standby taking the lease", func() bool { return holder() == standby })
	eventually(t, 60*time.Second, "the rollback to v1", func() bool {
		return imageOf(c.deployment(t, ns)) == "registry.example/demo:v1"
	})
	eventually(t, 60*time.Second, "the resolve", func() bool {
		for _, e := range pd.Events() {
			if e.Action == "resolve" {
				return true
			}
		}
		return false
	})

	keys := map[string]int{}
	for _, e := range pd.Events() {
		keys[e.DedupKey]++
	}
	if len(keys) != 1 {
		t.Errorf("events under %d dedup keys, want one incident: %v", len(keys), keys)
	}
	evs, err := c.client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reason=SentinelRollback"})
	// At most one: the leader may die between its write and its Event.
	if err != nil || len(evs.Items) > 1 {
		t.Errorf("%d rollback events (%v), want one rollback", len(evs.Items), err)
	}
	if rev := c.deployment(t, ns).Annotations["deployment.kubernetes.io/revision"]; rev != "3" {
		t.Errorf("revision %s, want 3: one rollback after the bad change", rev)
	}

	// The survivor's own metrics tell the story.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", procs[standby].port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"sentinel_leader 1", "sentinel_source_up 1", "sentinel_blind 0",
		"sentinel_incidents_total 1", "sentinel_workloads_watched 1", `sentinel_pages_sent_total{kind="resolve"} 1`,
		`sentinel_rollbacks_refused_total{reason="cooldown"}`, `sentinel_query_errors_total{`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// SIGTERM: the survivor stops cleanly and releases the lease.
	_ = procs[standby].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-procs[standby].done:
		procs[standby].done <- err // for the cleanup
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", standby, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop within 20s of SIGTERM", standby)
	}
	if h := holder(); h != "" {
		t.Errorf("lease still held by %q after a graceful stop", h)
	}
}

func caData(t *testing.T, c *cluster) []byte {
	t.Helper()
	if len(c.rest.TLSClientConfig.CAData) > 0 {
		return c.rest.TLSClientConfig.CAData
	}
	b, err := os.ReadFile(c.rest.TLSClientConfig.CAFile)
	if err != nil {
		t.Fatalf("read the cluster CA: %v", err)
	}
	return b
}
