package simulate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
	"github.com/sentinel-sre/sentinel/workload"
)

// of lists a workload's actions of one kind.
func of(actions []incident.Action, kind incident.Kind, w string) []incident.Action {
	var out []incident.Action
	for _, a := range actions {
		if a.Kind == kind && a.Workload.String() == w {
			out = append(out, a)
		}
	}
	return out
}

func logActions(t *testing.T, actions []incident.Action) {
	t.Helper()
	for _, a := range actions {
		t.Logf("%s %-8s %s", a.At.UTC().Format(time.RFC3339), a.Kind, a.Summary())
	}
}

// grpcScenario is shop/api, a gRPC service of 4 pods released by Helm,
// whose `kubectl set image` at 10:10 makes 90% of its calls answer
// status with HTTP 200, as Envoy reports a failed call.
func grpcScenario(status string) *scenariogen.Scenario {
	s, _ := grpcScenarioMesh(status, "")
	return s
}

func grpcScenarioMesh(status, mesh string) (*scenariogen.Scenario, *scenariogen.Workload) {
	s := scenariogen.New(scenariogen.Options{Start: advStart, End: advStart.Add(30 * time.Minute), Seed: 19, Mesh: mesh})
	api := s.AddWorkload(scenariogen.WorkloadSpec{Namespace: "shop", Name: "api", Image: "registry.example/api:1",
		Replicas: 4, RequestRate: 40, Created: advStart.Add(-2 * time.Hour), Manager: "helm", GRPC: true})
	api.Fail(scenariogen.Failure{GRPC: "5", Ratio: 0.01})
	api.Fail(scenariogen.Failure{Revisions: []int64{2}, GRPC: status, Ratio: 0.9})
	api.SetImage(at(10, 0), "kubectl-set", "registry.example/api:2")
	return s, api
}

// What must hold: a gRPC workload failing a server-side status on 90% of
// its calls after an out-of-band image change pages and rolls back under
// the default configuration; one failing a client-side status does not
// page, whatever the share.
func TestGRPCStatusesAfterAnImageChange(t *testing.T) {
	for _, tc := range []struct {
		status string
		pages  bool
	}{
		{"14", true},  // UNAVAILABLE
		{"13", true},  // INTERNAL
		{"2", true},   // UNKNOWN
		{"4", true},   // DEADLINE_EXCEEDED
		{"15", true},  // DATA_LOSS
		{"5", false},  // NOT_FOUND
		{"3", false},  // INVALID_ARGUMENT
		{"7", false},  // PERMISSION_DENIED
		{"16", false}, // UNAUTHENTICATED
		{"1", false},  // CANCELLED: the client gave up
	} {
		t.Run("status "+tc.status, func(t *testing.T) {
			actions, _ := replay(t, advWrite(t, grpcScenario(tc.status)))
			logActions(t, actions)
			pages, rollbacks := of(actions, incident.Page, "shop/api"), of(actions, incident.Rollback, "shop/api")
			if !tc.pages {
				if len(actions) != 0 {
					t.Errorf("%d actions, want none", len(actions))
				}
				return
			}
			if len(pages) != 1 || len(rollbacks) != 1 {
				t.Fatalf("%d pages and %d rollbacks, want one of each", len(pages), len(rollbacks))
			}
			if d := pages[0].At.Sub(at(10, 20)); d < 0 || d > 90*time.Second {
				t.Errorf("paged %s after the first failing call, want within 90s", d)
			}
			if want := "(gRPC " + incident.GRPCStatusName(tc.status) + ")"; !strings.Contains(pages[0].Summary(), want) {
				t.Errorf("page %q does not say %s", pages[0].Summary(), want)
			}
			if got := rollbacks[0].Plan.ToImages[0].Image; got != "registry.example/api:1" {
				t.Errorf("rolled back to %s, want registry.example/api:1", got)
			}
		})
	}
}

// examples/grpc: ledger's UNAVAILABLE pages and rolls back; catalog's
// NOT_FOUND on nearly 90% of its calls after its own kubectl set image
// never pages.
func TestGRPCExample(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "grpc")
	actions, _ := replay(t, dir)
	logActions(t, actions)
	pages := of(actions, incident.Page, "payments/ledger")
	if len(pages) != 1 {
		t.Fatalf("%d pages of payments/ledger, want 1", len(pages))
	}
	// Every failed call answered HTTP 200: the page says what failed.
	if s := pages[0].Summary(); !strings.Contains(s, "% of requests failing (gRPC UNAVAILABLE) since 14:15:45") {
		t.Errorf("page %q does not say the calls failed UNAVAILABLE", s)
	}
	if n := len(of(actions, incident.Rollback, "payments/ledger")); n != 1 {
		t.Errorf("%d rollbacks of payments/ledger, want 1", n)
	}
	if n := len(of(actions, incident.Page, "payments/catalog")); n != 0 {
		t.Errorf("%d pages of payments/catalog, whose calls fail NOT_FOUND only; want none", n)
	}
	// catalog's calls are answered NOT_FOUND, yet its failure ratio stays
	// as low as before its change.
	obs := observeAll(t, dir)
	var worst float64
	for _, o := range obs[workload.Ref{Namespace: "payments", Name: "catalog"}] {
		worst = max(worst, o.obs.Ratio())
	}
	if worst > 0.01 {
		t.Errorf("catalog's failure ratio reached %.3f, want NOT_FOUND never counted", worst)
	}
}

// timed is an observation and the poll it was made at.
type timed struct {
	at  time.Time
	obs detector.Observation
}

// observeAll reads a scenario's metrics as its replay does and observes
// them at every poll: each workload's observations in time order.
func observeAll(t *testing.T, dir string) map[workload.Ref][]timed {
	t.Helper()
	cfg, err := simulate.LoadConfig(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := scenario.OptionsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := scenario.ReadMetricsFile(filepath.Join(dir, simulate.MetricsFile), opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[workload.Ref][]timed{}
	for now := m.First; !now.After(m.Last); now = now.Add(cfg.Detection.PollInterval) {
		obs, err := m.Observe(t.Context(), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range obs {
			out[o.Workload] = append(out[o.Workload], timed{now, o})
		}
	}
	return out
}

// What must hold: examples/linkerd pages and rolls back from the new
// pods' own series (pod_template_hash, as linkerd-viz's scrape copies
// it), before the workload as a whole crosses the threshold.
func TestLinkerdExamplePagesOnTheNewPods(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "linkerd")
	actions, _ := replay(t, dir)
	logActions(t, actions)
	pages := of(actions, incident.Page, "shop/checkout")
	if len(pages) != 1 || len(of(actions, incident.Rollback, "shop/checkout")) != 1 {
		t.Fatalf("%d pages of shop/checkout, want one with a rollback", len(pages))
	}
	ev := pages[0].Evidence
	if ev == nil || ev.Basis != detector.BasisRevision || ev.FailingRevision != 2 || ev.WorkloadRatio >= 0.5 {
		t.Fatalf("evidence %+v, want revision 2's own pods with the workload below the line", ev)
	}
	var crossed time.Time
	for _, o := range observeAll(t, dir)[workload.Ref{Namespace: "shop", Name: "checkout"}] {
		if o.obs.Ratio() > 0.5 {
			crossed = o.at
			break
		}
	}
	if crossed.IsZero() || !pages[0].At.Before(crossed) {
		t.Errorf("paged at %s; the workload as a whole crossed at %s: want the page before", pages[0].At.UTC(), crossed)
	}
	t.Logf("paged %s before the workload as a whole crossed the threshold", crossed.Sub(pages[0].At))
}

// What must hold: under istio-ambient the series are the waypoint's, and
// its pod labels (pod, pod_template_hash) are never taken for a revision
// of the destination: the replay judges shop/api as a whole and pages.
func TestAmbientJudgesTheWorkloadAsAWhole(t *testing.T) {
	s, _ := grpcScenarioMesh("14", "istio-ambient")
	dir := advWrite(t, s)
	text, err := os.ReadFile(filepath.Join(dir, simulate.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	// The recording carries the waypoint's own pod labels, as scraped.
	if !strings.Contains(string(text), `pod_template_hash="`) || !strings.Contains(string(text), `reporter="waypoint"`) {
		t.Fatal("the recording holds no waypoint series with pod labels")
	}
	for w, obs := range observeAll(t, dir) {
		for _, o := range obs {
			if len(o.obs.Revisions) > 0 {
				t.Fatalf("%s at %s: revisions %v read from the waypoint's series", w, o.at, o.obs.Revisions)
			}
		}
	}
	actions, _ := replay(t, dir)
	logActions(t, actions)
	pages := of(actions, incident.Page, "shop/api")
	if len(pages) != 1 {
		t.Fatalf("%d pages, want 1", len(pages))
	}
	ev := pages[0].Evidence
	// The failing revision is the blamed change's, named by timing, not
	// read from any series.
	if ev == nil || ev.Basis != detector.BasisWorkload || ev.PerRevision || len(ev.Revisions) > 0 {
		t.Errorf("evidence %+v, want the workload as a whole, no per-revision traffic", ev)
	}
	if n := len(of(actions, incident.Rollback, "shop/api")); n != 1 {
		t.Errorf("%d rollbacks, want 1: blamed by timing, the change came 45 s before the errors", n)
	}
}
