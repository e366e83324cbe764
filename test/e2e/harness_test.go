// Package e2e runs sentinel's live path against the real test cluster
// (etcd, kube-apiserver and kube-controller-manager started by
// scripts/testenv.sh through test/testenv), with the real kubectl and
// helm.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/kube"
	"github.com/sentinel-sre/sentinel/test/testenv"
	"github.com/sentinel-sre/sentinel/workload"
)

// cluster is the test cluster's admin access.
type cluster struct {
	kubeconfig string
	helm       string
	rest       *rest.Config
	client     kubernetes.Interface
	env        testenv.Info
}

// needCluster returns the cluster scripts/testenv.sh started, or skips
// when run by hand without one. Under scripts/test.sh
// (SENTINEL_E2E=required) a missing cluster fails.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	env, ok := testenv.Lookup(os.Getenv)
	if !ok {
		if os.Getenv("SENTINEL_E2E") == "required" {
			t.Fatal(testenv.VarKubeconfig + " is not set: run under scripts/testenv.sh exec")
		}
		t.Skip("no test cluster: run scripts/test.sh, or scripts/testenv.sh exec -- go test ./test/e2e")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatalf("load %s: %v", env.Kubeconfig, err)
	}
	helm := env.Helm
	if helm == "" {
		helm = "helm"
	}
	return &cluster{kubeconfig: env.Kubeconfig, helm: helm, rest: cfg, client: kubernetes.NewForConfigOrDie(cfg), env: env}
}

// restart restarts one component of the test environment (kube-apiserver,
// prometheus, etcd, kube-controller-manager) on the same address, through
// the supervisor that owns it, and returns once it is ready again.
func (c *cluster) restart(t *testing.T, component string) {
	t.Helper()
	if err := testenv.Restart(t.Context(), c.env.Dir, component); err != nil {
		t.Fatalf("restart %s: %v", component, err)
	}
}

func (c *cluster) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *cluster) kubectl(t *testing.T, args ...string) string { return c.run(t, "kubectl", args...) }
func (c *cluster) helmCmd(t *testing.T, args ...string) string { return c.run(t, c.helm, args...) }

// namespace creates a fresh namespace, deleted when the test ends.
func (c *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	c.kubectl(t, "create", "namespace", name)
	t.Cleanup(func() {
		_ = exec.Command("kubectl", "--kubeconfig", c.kubeconfig, "delete", "namespace", name, "--wait=false").Run()
	})
	return name
}

func chart() string { return filepath.Join("..", "..", "testdata", "chart") }

// install helm-installs the demo chart with image v1 and waits for its
// first ReplicaSet.
func (c *cluster) install(t *testing.T, ns string) {
	t.Helper()
	c.helmCmd(t, "install", "demo", chart(), "--namespace", ns, "--set", "image=registry.example/demo:v1")
	c.waitRevision(t, ns, "1")
}

func (c *cluster) deployment(t *testing.T, ns string) *appsv1.Deployment {
	t.Helper()
	d, err := c.client.AppsV1().Deployments(ns).Get(t.Context(), "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return d
}

// waitRevision waits until the Deployment is at revision rev and its
// ReplicaSet exists.
func (c *cluster) waitRevision(t *testing.T, ns, rev string) {
	t.Helper()
	eventually(t, 30*time.Second, "deployment "+ns+"/demo at revision "+rev, func() bool {
		d := c.deployment(t, ns)
		if d.Annotations["deployment.kubernetes.io/revision"] != rev {
			return false
		}
		rss, err := c.client.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, rs := range rss.Items {
			if rs.Annotations["deployment.kubernetes.io/revision"] == rev {
				return true
			}
		}
		return false
	})
}

// eventually fails the test unless ok holds within timeout.
func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	if !within(timeout, ok) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// within reports whether ok held before timeout, asking every 200 ms:
// often enough for a poll interval of a second, seldom enough not to load
// the API server or sentinel's /metrics.
func within(timeout time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

// healthyRevisions is sentinel's gauge of the Deployments with a revision
// judged healthy: a rollback target for their next change.
const healthyRevisions = "sentinel_workloads_with_healthy_revision"

// replica is a running sentinel whose own metrics a test reads: a
// `sentinel run` (its /metrics) or one the test runs in-process (its
// registry).
type replica interface {
	metric(t *testing.T, name string, labels map[string]string) float64
	String() string
}

// waitHealthy waits until each replica has judged a revision of each of
// the namespace's n workloads healthy for rollback.healthy.min_duration,
// so that a bad change made next has a rollback target whichever replica
// decides.
func waitHealthy(t *testing.T, n int, replicas ...replica) {
	t.Helper()
	const timeout = 30 * time.Second
	began := time.Now()
	got := make([]float64, len(replicas))
	ok := within(timeout, func() bool {
		for i, r := range replicas {
			got[i] = r.metric(t, healthyRevisions, nil)
		}
		return !slices.ContainsFunc(got, func(v float64) bool { return v < float64(n) })
	})
	if !ok {
		var seen []string
		for i, r := range replicas {
			seen = append(seen, fmt.Sprintf("%s: %v", r, got[i]))
		}
		t.Fatalf("timed out after %s waiting for %s to reach %d (a healthy revision of each workload); last seen %s",
			timeout, healthyRevisions, n, strings.Join(seen, ", "))
	}
	t.Logf("%s at %d after %s", healthyRevisions, n, time.Since(began).Round(100*time.Millisecond))
}

// valueOf is the value of the counter or gauge of family f whose labels
// are exactly labels; 0 when there is none.
func valueOf(f *dto.MetricFamily, labels map[string]string) float64 {
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !cmp.Equal(labels, got, cmpopts.EquateEmpty()) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// testConfig shrinks sentinel's durations so a whole incident takes
// seconds; the decisions are the same.
func testConfig(ns string) config.Config {
	c := config.Default()
	c.Detection.PollInterval = time.Second
	c.Detection.RateWindow = 2 * time.Second
	c.Detection.For = 2 * time.Second
	c.Detection.ResolveAfter = 3 * time.Second
	c.Rollback.Healthy.MinDuration = 3 * time.Second
	c.Kubernetes.Namespaces = []string{ns}
	c.Kubernetes.VerifyTimeout = 30 * time.Second
	c.Metrics.QueryDelay = 100 * time.Millisecond
	return c
}

// scripted is a metrics source standing in for Prometheus: the demo
// Deployment fails 90% of its 40 req/s while its template runs image v2
// or has the env var BROKEN, as the real service would.
type scripted struct {
	client kubernetes.Interface
	ns     string
}

func (s scripted) Observe(ctx context.Context, _ time.Time) ([]detector.Observation, error) {
	d, err := s.client.AppsV1().Deployments(s.ns).Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	ratio := 0.01
	for _, c := range d.Spec.Template.Spec.Containers {
		if strings.HasSuffix(c.Image, ":v2") {
			ratio = 0.9
		}
		for _, e := range c.Env {
			if e.Name == "BROKEN" {
				ratio = 0.9
			}
		}
	}
	return []detector.Observation{{Workload: workload.Ref{Namespace: s.ns, Name: "demo"}, Requests: 40, Failures: 40 * ratio}}, nil
}

// recorder keeps the actions the engine reports.
type recorder struct {
	mu      sync.Mutex
	actions []incident.Action
}

func (r *recorder) Notify(_ context.Context, a incident.Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, a)
	return nil
}

func (r *recorder) of(k incident.Kind) []incident.Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []incident.Action
	for _, a := range r.actions {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

// sentinel is one running instance: watcher, engine loop, executor.
type sentinel struct {
	cfg     config.Config
	out     *recorder
	engine  *engine.Engine
	metrics *prometheus.Registry // the engine's own series
	stop    func()
}

func (s *sentinel) String() string { return "the test's sentinel" }

// metric is the value of the series of name with exactly labels in the
// engine's registry; 0 when there is none.
func (s *sentinel) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := s.metrics.Gather()
	if err != nil {
		t.Fatalf("gather the engine's metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return valueOf(f, labels)
		}
	}
	return 0
}

// start runs sentinel as the given identity (rest config) until the test
// ends or stop is called. wrap, when set, wraps the executor.
func start(t *testing.T, as *rest.Config, cfg config.Config, metricsClient kubernetes.Interface,
	wrap func(engine.Executor) engine.Executor) *sentinel {
	t.Helper()
	return startWith(t, as, cfg, scripted{client: metricsClient, ns: cfg.Kubernetes.Namespaces[0]}, wrap)
}

// startWith is start with the metrics answered by src.
func startWith(t *testing.T, as *rest.Config, cfg config.Config, src engine.Source,
	wrap func(engine.Executor) engine.Executor) *sentinel {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(as)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	clk := clock.RealClock{}
	var exec engine.Executor = kube.NewExecutor(client, clk, log, cfg.Kubernetes.VerifyTimeout)
	if wrap != nil {
		exec = wrap(exec)
	}
	out := &recorder{}
	reg := prometheus.NewRegistry()
	eng := engine.New(cfg, src, exec, out, log, engine.WithMetrics(reg))
	w := kube.NewWatcher(client, kube.WatchOptions{Namespaces: cfg.Kubernetes.Namespaces}, eng, clk, log)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("watcher: %v", err)
		}
	}()
	eventually(t, 30*time.Second, "caches synced", w.HasSynced)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = eng.Run(ctx, clk)
	}()
	s := &sentinel{cfg: cfg, out: out, engine: eng, metrics: reg}
	var once sync.Once
	s.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(s.stop)
	return s
}

func imageOf(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }

// imageManager is the field manager owning the container's image.
func imageManager(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	key := `"k:{\"name\":\"app\"}"`
	var best string
	var at time.Time
	for _, mf := range d.ManagedFields {
		if mf.FieldsV1 == nil || !strings.Contains(string(mf.FieldsV1.Raw), key) ||
			!strings.Contains(string(mf.FieldsV1.Raw), `"f:image"`) || mf.Subresource != "" {
			continue
		}
		if mf.Time != nil && !mf.Time.Time.Before(at) {
			best, at = mf.Manager, mf.Time.Time
		}
	}
	if best == "" {
		t.Fatalf("no manager owns the image: %s", fmt.Sprint(d.ManagedFields))
	}
	return best
}
