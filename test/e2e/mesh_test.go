package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// answer is a share of a pod's requests answered one way: an HTTP status
// and, for a gRPC call, a gRPC status.
type answer struct {
	code, grpc string
	share      float64
}

// meshPod is one pod a ReplicaSet of the namespace wants, as a proxy's
// series name it.
type meshPod struct {
	namespace, workload, name, hash string
}

// meshExporter plays a mesh's proxies pod by pod: every ReplicaSet of the
// namespace that wants pods serves 20 req/s per pod (there is no kubelet:
// the pods it wants are the pods it has), each pod's requests answered as
// answers says for its workload and image, its series named by series.
// Series with the same name add up, as a proxy counting for several pods
// does.
type meshExporter struct {
	client  kubernetes.Interface
	ns      string
	family  string // the counter's metric family, e.g. istio_requests
	answers func(workload, image string) []answer
	series  func(p meshPod, a answer) []string

	mu       sync.Mutex
	last     time.Time
	counters map[string]float64
}

func (e *meshExporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rss, err := e.client.AppsV1().ReplicaSets(e.ns).List(r.Context(), metav1.ListOptions{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	for _, rs := range rss.Items {
		if rs.Spec.Replicas == nil {
			continue
		}
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		answers := e.answers(rs.Labels["app"], rs.Spec.Template.Spec.Containers[0].Image)
		for i := range int(*rs.Spec.Replicas) {
			p := meshPod{namespace: e.ns, workload: rs.Labels["app"], name: fmt.Sprintf("%s-%05d", rs.Name, i), hash: hash}
			for _, a := range answers {
				for _, s := range e.series(p, a) {
					n := 0.0
					if !e.last.IsZero() {
						n = 20 * a.share * now.Sub(e.last).Seconds()
					}
					e.counters[s] += n
				}
			}
		}
	}
	e.last = now
	names := make([]string, 0, len(e.counters))
	for s := range e.counters {
		names = append(names, s)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE %s_total counter\n", e.family)
	for _, s := range names {
		fmt.Fprintf(&b, "%s %f\n", s, e.counters[s])
	}
	_, _ = w.Write([]byte(b.String()))
}

// failing answers a template running image v2 of a workload in fails as
// it says, and every other template 1% 503s (or, for gRPC, 1% NOT_FOUND).
func failing(grpc bool, fails map[string]answer) func(workload, image string) []answer {
	return func(workload, image string) []answer {
		ok, noise := answer{code: "200"}, answer{code: "503", share: 0.01}
		if grpc {
			ok.grpc, noise = "0", answer{code: "200", grpc: "5", share: 0.01}
		}
		bad, ok2 := fails[workload]
		if !ok2 || !strings.HasSuffix(image, ":v2") {
			bad = noise
		}
		ok.share = 1 - bad.share
		return []answer{ok, bad}
	}
}

// envoySeries is a pod's istio_requests_total as its server-side sidecar
// reports it, with the pod_template_hash a labelmap of the pod's labels
// copies: a failed gRPC call is HTTP 200 with its status in
// grpc_response_status.
func envoySeries(p meshPod, a answer) []string {
	return []string{fmt.Sprintf(`istio_requests_total{destination_workload=%q,destination_workload_namespace=%q,`+
		`grpc_response_status=%q,pod_template_hash=%q,reporter="destination",request_protocol="grpc",response_code=%q}`,
		p.workload, p.namespace, a.grpc, p.hash, a.code)}
}

// linkerdClass is the classification Linkerd's proxy gives a response by
// default: by its gRPC status when it has one, else by its HTTP status.
func linkerdClass(a answer) string {
	failed := strings.HasPrefix(a.code, "5")
	if a.grpc != "" {
		failed = strings.Contains(" 2 4 13 14 15 ", " "+a.grpc+" ")
	}
	if failed {
		return "failure"
	}
	return "success"
}

// linkerdSeries is a pod's response_total as its Linkerd proxy reports it
// inbound, with the labels linkerd-viz's scrape configuration adds
// (namespace, pod, deployment from linkerd.io/proxy-deployment,
// pod_template_hash), and as the proxy of a caller, web, reports the same
// responses outbound: those are web's, never the workload's.
func linkerdSeries(p meshPod, a answer) []string {
	class := linkerdClass(a)
	return []string{
		fmt.Sprintf(`response_total{classification=%q,deployment=%q,direction="inbound",namespace=%q,pod=%q,`+
			`pod_template_hash=%q,status_code=%q,tls="true"}`, class, p.workload, p.namespace, p.name, p.hash, a.code),
		fmt.Sprintf(`response_total{classification=%q,deployment="web",direction="outbound",dst_deployment=%q,`+
			`dst_namespace=%q,dst_pod_template_hash=%q,namespace=%q,pod="web-5d8c7b9f4-qwert",status_code=%q,tls="true"}`,
			class, p.workload, p.namespace, p.hash, p.namespace, a.code),
	}
}

// pageDetails is what a PagerDuty trigger's custom details say of a page.
type pageDetails struct {
	Kind      string   `json:"kind"`
	FailingAs []string `json:"failing_as"`
	Evidence  struct {
		Basis           string  `json:"basis"`
		FailingRevision int64   `json:"failing_revision"`
		WorkloadRatio   float64 `json:"workload_error_ratio"`
	} `json:"evidence"`
}

// page returns the page PagerDuty received for a workload, once it has.
func (r *rig) page(t *testing.T, workload string) (fakepd.Event, pageDetails, bool) {
	t.Helper()
	for _, e := range r.pd.Events() {
		if e.Action != "trigger" || e.Payload == nil || !strings.Contains(e.Payload.Summary, r.ns+"/"+workload+":") {
			continue
		}
		var d pageDetails
		if err := json.Unmarshal(e.Payload.CustomDetails, &d); err != nil {
			t.Fatalf("custom details of %s: %v", e.Raw, err)
		}
		if d.Kind == "page" {
			return e, d, true
		}
	}
	return fakepd.Event{}, pageDetails{}, false
}

// The real `sentinel run` against the test cluster and a real Prometheus
// scraping Envoy's gRPC series: ledger's new pods answer 90% of their
// calls UNAVAILABLE with HTTP 200, catalog's 90% NOT_FOUND. Under the
// default configuration ledger is paged, "gRPC UNAVAILABLE", and rolled
// back; catalog, whose calls fail a client-side status, never is.
func TestGRPCUnavailableIsPagedAndRolledBack(t *testing.T) {
	r := newRigServing(t, "e2e-grpc", func(c *cluster, ns string) http.Handler {
		return &meshExporter{client: c.client, ns: ns, family: "istio_requests", series: envoySeries,
			answers: failing(true, map[string]answer{
				"ledger":  {code: "200", grpc: "14", share: 0.9},
				"catalog": {code: "200", grpc: "5", share: 0.9},
			}), counters: map[string]float64{}}
	}, "ledger", "catalog")
	p := r.start(t, "a", r.config())
	waitHealthy(t, 2, p) // v1 of each judged healthy on its own pods' series

	r.setImage(t, "catalog", "v2")
	r.setImage(t, "ledger", "v2")
	eventually(t, 90*time.Second, "ledger rolled back", func() bool { return r.revision(t, "ledger") == "3" })
	if got := r.image(t, "ledger"); got != "registry.example/demo:v1" {
		t.Errorf("ledger's image after the rollback %q, want v1", got)
	}
	e, d, ok := r.page(t, "ledger")
	if !ok {
		t.Fatal("PagerDuty received no page for ledger")
	}
	if !strings.Contains(e.Payload.Summary, " requests failing (gRPC UNAVAILABLE) since ") ||
		len(d.FailingAs) != 1 || d.FailingAs[0] != "gRPC UNAVAILABLE" {
		t.Errorf("page %q, failing_as %q: want it to say gRPC UNAVAILABLE", e.Payload.Summary, d.FailingAs)
	}
	// catalog failed NOT_FOUND as long as ledger took to page and roll
	// back, and for the time a page takes again (the rate window, `for`
	// and a poll) after.
	cfg := r.config()
	time.Sleep(cfg.Detection.RateWindow + cfg.Detection.For + 2*cfg.Detection.PollInterval)
	if keys := r.incidents("catalog"); len(keys) > 0 {
		t.Errorf("catalog, failing NOT_FOUND only, was paged: %v", keys)
	}
	if got := r.image(t, "catalog"); got != "registry.example/demo:v2" {
		t.Errorf("catalog's image %q, want v2: never rolled back", got)
	}
}

// The real `sentinel run` with metrics.mesh linkerd against the test
// cluster and a real Prometheus scraping Linkerd's proxy series: helm
// install v1 (2 pods), kubectl set image v2; with no kubelet the rollout
// stops at one new pod, which fails 95% while the old ones serve cleanly
// — a third of the traffic, so the workload as a whole (about 32%) never
// crosses the threshold. The new pod's own inbound series page and roll
// back mid-rollout; the caller's outbound series, failing as much, are
// never taken for the workload's.
func TestLinkerdFailingRevisionIsRolledBackMidRollout(t *testing.T) {
	r := newRigServing(t, "e2e-linkerd", func(c *cluster, ns string) http.Handler {
		return &meshExporter{client: c.client, ns: ns, family: "response", series: linkerdSeries,
			answers:  failing(false, map[string]answer{"checkout": {code: "500", share: 0.95}}),
			counters: map[string]float64{}}
	}, "checkout")
	cfg := r.config()
	lk, _ := config.DefaultFor(config.MeshLinkerd)
	url, timeout := cfg.Metrics.Prometheus.URL, cfg.Metrics.Prometheus.Timeout
	cfg.Metrics.Mesh, cfg.Metrics.Prometheus = config.MeshLinkerd, lk.Metrics.Prometheus
	cfg.Metrics.Prometheus.URL, cfg.Metrics.Prometheus.Timeout = url, timeout
	p := r.start(t, "a", cfg)
	waitHealthy(t, 1, p)

	r.setImage(t, "checkout", "v2")
	eventually(t, 90*time.Second, "checkout rolled back", func() bool { return r.revision(t, "checkout") == "3" })
	if got := r.image(t, "checkout"); got != "registry.example/demo:v1" {
		t.Errorf("image after the rollback %q, want v1", got)
	}
	e, d, ok := r.page(t, "checkout")
	if !ok {
		t.Fatal("PagerDuty received no page for checkout")
	}
	ev := d.Evidence
	if ev.Basis != "revision" || ev.FailingRevision != 2 || !(ev.WorkloadRatio < 0.5) {
		t.Errorf("page %q: evidence %+v, want revision 2's own pods with the workload below the line", e.Payload.Summary, ev)
	}
	if keys := r.incidents("web"); len(keys) > 0 {
		t.Errorf("web, a caller whose outbound series fail, was paged: %v", keys)
	}
}
