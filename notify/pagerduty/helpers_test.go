package pagerduty

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/test/fakepd"
	"github.com/sentinel-sre/sentinel/workload"
)

// testKey is a made-up routing key of the right length.
const testKey = "sentinel-test-routing-key-000032"

const dashboard = "https://grafana.example.com/d/istio-workload?var-namespace={{.Namespace}}&var-workload={{.Workload}}"

func onset() time.Time { return time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC) }

func checkout() workload.Ref { return workload.Ref{Namespace: "shop", Name: "checkout"} }

func incidentID() string { return workload.IncidentID(checkout(), onset()) }

func images(tag string) []history.Image {
	return []history.Image{{Container: "app", Image: "registry.example.com/shop/checkout:" + tag}}
}

func linkedChange(manager string) *history.Change {
	return &history.Change{Workload: checkout(), At: onset().Add(-2 * time.Minute), Revision: 7,
		Manager: manager, ImageChanged: true, Fields: []string{"containers[app].image"},
		ImagesBefore: images("v1.4.2"), ImagesAfter: images("v1.5.0")}
}

func rollbackPlan() *rollback.Plan {
	return &rollback.Plan{Workload: checkout(), Incident: incidentID(), FromRevision: 7, ToRevision: 6,
		FromImages: images("v1.5.0"), ToImages: images("v1.4.2"), ReplicaSet: "checkout-6d9f7c",
		Reason: rollback.ReasonOutOfBandImage}
}

// base is an action of the incident, as the engine fills it in.
func base(k incident.Kind) incident.Action {
	return incident.Action{At: onset().Add(30 * time.Second), Kind: k, Workload: checkout(),
		Incident: incidentID(), Onset: onset(), Ratio: 0.8312, Requests: 41.25,
		FailureCodes: "5..", RunbookURL: config.DefaultRunbookURL}
}

func pageRollback() incident.Action {
	a := base(incident.Page)
	a.Cause = linkedChange("kubectl-set")
	a.Decision = rollback.Decision{Reason: rollback.ReasonOutOfBandImage, Plan: rollbackPlan()}
	return a
}

// pageGRPC is pageRollback of a gRPC service whose calls fail
// UNAVAILABLE (with HTTP 200, as Envoy reports them), a few INTERNAL.
func pageGRPC() incident.Action {
	a := pageRollback()
	a.FailedBy = []detector.Failure{{GRPC: "13", Rate: 1.2}, {GRPC: "14", Rate: 35}, {Rate: 0.3}}
	return a
}

func pageRefusedHelm() incident.Action {
	a := base(incident.Page)
	a.Cause = linkedChange("helm")
	a.Decision = rollback.Decision{Reason: rollback.ReasonTrustedDeployer}
	return a
}

func rolledBack() incident.Action {
	a := base(incident.Rollback)
	a.Cause = linkedChange("kubectl-set")
	a.Plan = rollbackPlan()
	return a
}

func rollbackFailed() incident.Action {
	a := base(incident.RollbackFailed)
	a.Plan = rollbackPlan()
	a.Message = "rollback to revision 6 failed: update deployment: conflict"
	return a
}

func resolved() incident.Action {
	a := base(incident.Resolve)
	a.At = onset().Add(6 * time.Minute)
	a.Ratio, a.Requests = 0.004, 40
	return a
}

// resolvedDeleted is the resolve of an incident whose Deployment was
// deleted: it says so.
func resolvedDeleted() incident.Action {
	a := resolved()
	a.Ratio, a.Requests = 0.9, 40
	a.Message = "the Deployment was deleted"
	return a
}

// drift is what the engine should send for an out-of-band image change
// (proposed): a notice without an incident, with the change as Cause.
func drift() incident.Action {
	return incident.Action{At: onset().Add(-2 * time.Minute), Kind: incident.Drift, Workload: checkout(),
		Cause: linkedChange("kubectl-set"), RunbookURL: config.DefaultRunbookURL}
}

// blind is what the engine should send when the source stops answering
// (proposed): a notice with neither incident nor workload, Onset the
// first poll without an answer.
func blind() incident.Action {
	return incident.Action{At: onset().Add(time.Minute), Kind: incident.Blind, Onset: onset(),
		RunbookURL: config.DefaultRunbookURL,
		Message:    "metrics source has not answered for 4 polls; every workload is unknown"}
}

func blindOver() incident.Action {
	return incident.Action{At: onset().Add(5 * time.Minute), Kind: incident.Sighted, Onset: onset()}
}

// otherIncident is a moved to another workload's incident.
func otherIncident(a incident.Action) incident.Action {
	a.Workload = workload.Ref{Namespace: "shop", Name: "cart"}
	a.Incident = workload.IncidentID(a.Workload, a.Onset)
	return a
}

// harness runs a PagerDuty against a server on a fake clock.
type harness struct {
	t     *testing.T
	p     *PagerDuty
	clock *clocktesting.FakeClock
	logs  *observer.ObservedLogs
	reg   *prometheus.Registry

	cancel context.CancelFunc
	done   chan error
}

// newHarness builds a PagerDuty sending to url; edit adjusts the options.
func newHarness(t *testing.T, url string, edit func(*Options)) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	h := &harness{t: t, clock: clocktesting.NewFakeClock(onset()), logs: logs, reg: prometheus.NewRegistry()}
	paging := config.Default().Paging
	paging.PagerDuty.Enabled = true
	paging.PagerDuty.URL = url
	paging.PagerDuty.Timeout = 200 * time.Millisecond
	opts := Options{Paging: paging, RoutingKey: testKey, Logger: zap.New(core),
		Registerer: h.reg, HTTPClient: &http.Client{}, Clock: h.clock}
	if edit != nil {
		edit(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.p = p
	t.Cleanup(h.stop)
	return h
}

func (h *harness) notify(as ...incident.Action) {
	h.t.Helper()
	for _, a := range as {
		if err := h.p.Notify(h.t.Context(), a); err != nil {
			h.t.Fatalf("Notify(%s): %v", a.Kind, err)
		}
	}
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(h.t.Context())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.p.Run(ctx) }()
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after its context ended")
	}
}

// until waits for cond, moving the fake clock past every backoff the
// pager waits on.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	h.wait(what, true, cond)
}

// waitFor waits for cond without moving the fake clock.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	h.wait(what, false, cond)
}

func (h *harness) wait(what string, step bool, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		if step && h.clock.HasWaiters() {
			h.clock.Step(2 * time.Minute)
		}
		time.Sleep(time.Millisecond)
	}
}

// events waits for n accepted events.
func (h *harness) events(fake *fakepd.Server, n int) []fakepd.Event {
	h.t.Helper()
	h.until("accepted events", func() bool { return len(fake.Events()) >= n })
	return fake.Events()
}

func (h *harness) sent(k incident.Kind) float64 { return h.value(h.p.sent.WithLabelValues(k.String())) }
func (h *harness) failed(k incident.Kind) float64 {
	return h.value(h.p.failed.WithLabelValues(k.String()))
}
func (h *harness) queued() float64 { return h.value(h.p.queueLength) }

func (h *harness) value(m prometheus.Metric) float64 {
	h.t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		h.t.Fatalf("read metric: %v", err)
	}
	if pb.Gauge != nil {
		return pb.Gauge.GetValue()
	}
	return pb.Counter.GetValue()
}
