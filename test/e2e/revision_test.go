package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/incident"
	promsource "github.com/sentinel-sre/sentinel/source/prometheus"
)

// revisionExporter plays the demo workload's Envoy sidecars pod by pod:
// every ReplicaSet of the Deployment that wants pods serves 20 req/s per
// pod, its series labelled with the ReplicaSet's real pod-template-hash
// (what a labelmap of the pod's labels gives); the pods of a template
// running image v2 fail 95%, the others 1%.
type revisionExporter struct {
	client kubernetes.Interface
	ns     string

	mu       sync.Mutex
	last     time.Time
	counters map[string]*[2]float64 // by hash: ok, failed
}

func (e *revisionExporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rss, err := e.client.AppsV1().ReplicaSets(e.ns).List(r.Context(), metav1.ListOptions{LabelSelector: "app=demo"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	for _, rs := range rss.Items {
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		c := e.counters[hash]
		if c == nil {
			c = &[2]float64{}
			e.counters[hash] = c
		}
		if e.last.IsZero() || rs.Spec.Replicas == nil || *rs.Spec.Replicas == 0 {
			continue
		}
		n := 20 * float64(*rs.Spec.Replicas) * now.Sub(e.last).Seconds()
		ratio := 0.01
		if strings.HasSuffix(rs.Spec.Template.Spec.Containers[0].Image, ":v2") {
			ratio = 0.95
		}
		c[0] += (1 - ratio) * n
		c[1] += ratio * n
	}
	e.last = now
	hashes := make([]string, 0, len(e.counters))
	for h := range e.counters {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	fmt.Fprintf(w, "# TYPE istio_requests_total counter\n")
	for _, h := range hashes {
		labels := fmt.Sprintf(`destination_workload="demo",destination_workload_namespace=%q,reporter="destination",pod_template_hash=%q`, e.ns, h)
		fmt.Fprintf(w, "istio_requests_total{%s,response_code=\"200\"} %f\n", labels, e.counters[h][0])
		fmt.Fprintf(w, "istio_requests_total{%s,response_code=\"500\"} %f\n", labels, e.counters[h][1])
	}
}

// helm install v1 (2 pods) → kubectl set image v2: the new ReplicaSet
// gets one pod and, with no kubelet here, the rollout never finishes. Its
// pods fail 95% while the old pods serve cleanly — a third of the
// workload's traffic, so its ratio as a whole (about 32%) never crosses
// the threshold. Judged per revision through a real Prometheus, sentinel
// pages and rolls back mid-rollout, as the least-privilege ServiceAccount.
func TestFailingRevisionIsRolledBackMidRollout(t *testing.T) {
	c := needCluster(t)
	ns := c.namespace(t, "e2e-revision")
	c.install(t, ns)
	exp := &revisionExporter{client: c.client, ns: ns, counters: map[string]*[2]float64{}}
	srv := httptest.NewServer(exp)
	t.Cleanup(srv.Close)
	promURL := startPrometheus(t, strings.TrimPrefix(srv.URL, "http://"))

	cfg := testConfig(ns)
	cfg.Metrics.Prometheus.URL = promURL
	cfg.Detection.RateWindow = 4 * time.Second // four 1s scrapes
	cfg.Metrics.QueryDelay = 500 * time.Millisecond
	src, err := promsource.New(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s := startWith(t, c.serviceAccount(t, "sentinel"), cfg, src, nil)
	waitHealthy(t, 1, s) // v1 judged healthy on its own pods' series

	c.setImage(t, ns, "v2")
	eventually(t, 60*time.Second, "a rollback", func() bool { return len(s.out.of(incident.Rollback)) > 0 })
	c.waitRevision(t, ns, "3")

	if got := imageOf(c.deployment(t, ns)); got != "registry.example/demo:v1" {
		t.Errorf("image after rollback %q, want v1", got)
	}
	page := s.out.of(incident.Page)
	if len(page) != 1 || page[0].Evidence == nil {
		t.Fatalf("%d pages, want 1 with evidence", len(page))
	}
	ev := page[0].Evidence
	type seen struct {
		Basis       detector.Basis
		Failing     int64
		Blame       evidence.Rule
		Cause       string
		BelowLine   bool
		PerRevision bool
	}
	want := seen{Basis: detector.BasisRevision, Failing: 2, Blame: evidence.RuleFailingRevision, Cause: "kubectl-set",
		BelowLine: true, PerRevision: true}
	got := seen{Basis: ev.Basis, Failing: ev.FailingRevision, Blame: ev.Blame, BelowLine: ev.WorkloadRatio < 0.5,
		PerRevision: ev.PerRevision}
	if page[0].Cause != nil {
		got.Cause = page[0].Cause.Manager
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("page evidence (-want +got; workload ratio %.2f):\n%s", ev.WorkloadRatio, diff)
	}
}
