package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/test/fakepd"
	"github.com/sentinel-sre/sentinel/workload"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestIncidentSequenceSharesOneDedupKey: every event of an incident
// addresses one alert.
func TestIncidentSequenceSharesOneDedupKey(t *testing.T) {
	wantKey := "sentinel/shop/checkout@2025-03-04T10:00:00Z"
	tests := []struct {
		name        string
		actions     []incident.Action
		wantActions []string
		wantSent    map[incident.Kind]float64
	}{
		{name: "page, rollback, resolve",
			actions:     []incident.Action{pageRollback(), rolledBack(), resolved()},
			wantActions: []string{"trigger", "trigger", "resolve"},
			wantSent:    map[incident.Kind]float64{incident.Page: 1, incident.Rollback: 1, incident.Resolve: 1}},
		{name: "page refused, resolve",
			actions:     []incident.Action{pageRefusedHelm(), resolved()},
			wantActions: []string{"trigger", "resolve"},
			wantSent:    map[incident.Kind]float64{incident.Page: 1, incident.Resolve: 1}},
		{name: "page, failed rollback, resolve",
			actions:     []incident.Action{pageRollback(), rollbackFailed(), resolved()},
			wantActions: []string{"trigger", "trigger", "resolve"},
			wantSent:    map[incident.Kind]float64{incident.Page: 1, incident.RollbackFailed: 1, incident.Resolve: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakepd.New(t)
			h := newHarness(t, fake.EnqueueURL(), nil)
			h.start()
			// One at a time, as an incident unfolds: a resolve queued
			// behind its triggers would replace them (coalescing).
			var evs []fakepd.Event
			for i, a := range tt.actions {
				h.notify(a)
				evs = h.events(fake, i+1)
			}
			h.until("queue drained", func() bool { return h.queued() == 0 })
			if len(evs) != len(tt.actions) {
				t.Fatalf("got %d events, want %d", len(evs), len(tt.actions))
			}
			for i, ev := range evs {
				if ev.Action != tt.wantActions[i] || ev.DedupKey != wantKey {
					t.Errorf("event %d: %s %q, want %s %q", i, ev.Action, ev.DedupKey, tt.wantActions[i], wantKey)
				}
				if ev.Action == "trigger" && ev.Payload.Summary != tt.actions[i].Summary() {
					t.Errorf("event %d: summary %q, want Action.Summary() %q", i, ev.Payload.Summary, tt.actions[i].Summary())
				}
			}
			for _, k := range incident.Kinds() {
				if got := h.sent(k); got != tt.wantSent[k] {
					t.Errorf("sentinel_pages_sent_total{kind=%q} = %g, want %g", k, got, tt.wantSent[k])
				}
				if got := h.failed(k); got != 0 {
					t.Errorf("sentinel_pages_failed_total{kind=%q} = %g, want 0", k, got)
				}
			}
		})
	}
}

func TestPayloadGolden(t *testing.T) {
	tests := []struct {
		name   string
		action incident.Action
	}{
		{"page-rollback", pageRollback()},
		{"page-grpc", pageGRPC()},
		{"page-refused-helm", pageRefusedHelm()},
		{"rollback", rolledBack()},
		{"rollback-failed", rollbackFailed()},
		{"resolve", resolved()},
		{"resolve-deleted", resolvedDeleted()},
		{"drift", drift()},
		{"blind", blind()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakepd.New(t)
			h := newHarness(t, fake.EnqueueURL(), func(o *Options) {
				o.Paging.DashboardURL = dashboard
				o.Paging.PagerDuty.DriftNotices = true
				o.Paging.PagerDuty.PageWhenBlind = true
			})
			h.notify(tt.action)
			h.start()
			evs := h.events(fake, 1)
			got := golden(t, evs[0].Raw)
			path := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notify/pagerduty -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("event differs from %s (go test ./notify/pagerduty -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// golden renders a received event for a golden file, the routing key
// replaced.
func golden(t *testing.T, raw []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["routing_key"] != testKey {
		t.Errorf("routing_key = %v, want the configured key", m["routing_key"])
	}
	m["routing_key"] = "<routing key>"
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRetriesInOrderUntilDelivered(t *testing.T) {
	tests := []struct {
		name   string
		faults func(*fakepd.Server)
		n      int // failed attempts
	}{
		{name: "429", faults: func(s *fakepd.Server) { s.FailNext(3, http.StatusTooManyRequests) }, n: 3},
		{name: "500", faults: func(s *fakepd.Server) { s.FailNext(2, http.StatusInternalServerError) }, n: 2},
		{name: "timeout", faults: func(s *fakepd.Server) { s.HangNext(2) }, n: 2},
		{name: "408", faults: func(s *fakepd.Server) { s.FailNext(1, http.StatusRequestTimeout) }, n: 1},
		{name: "mixed", faults: func(s *fakepd.Server) {
			s.FailNext(1, http.StatusServiceUnavailable)
			s.HangNext(1)
			s.FailNext(1, http.StatusTooManyRequests)
		}, n: 3},
	}
	// Three triggers: a resolve would replace the queued ones (coalescing).
	actions := []incident.Action{pageRollback(), rolledBack(), rollbackFailed()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakepd.New(t)
			tt.faults(fake)
			h := newHarness(t, fake.EnqueueURL(), nil)
			h.notify(actions...)
			if got := h.queued(); got != 3 {
				t.Errorf("sentinel_pager_queue_length = %g, want 3", got)
			}
			h.start()
			evs := h.events(fake, len(actions))
			want := []incident.Kind{incident.Page, incident.Rollback, incident.RollbackFailed}
			if diff := cmp.Diff([]string{"page", "rollback", "rollback_failed"}, kindsOf(t, evs)); diff != "" {
				t.Errorf("events in order (-want +got):\n%s", diff)
			}
			if got := fake.Requests(); got != len(actions)+tt.n {
				t.Errorf("%d requests, want %d events + %d failed attempts", got, len(actions), tt.n)
			}
			h.until("queue drained", func() bool { return h.queued() == 0 })
			if got := h.logs.FilterMessage("pagerduty delivery failed; retrying").Len(); got != tt.n {
				t.Errorf("%d retry log lines, want %d", got, tt.n)
			}
			for _, k := range want {
				if h.sent(k) != 1 || h.failed(k) != 0 {
					t.Errorf("%s: sent %g failed %g, want 1 and 0", k, h.sent(k), h.failed(k))
				}
			}
		})
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			fake := fakepd.New(t)
			fake.FailNext(1, status)
			h := newHarness(t, fake.EnqueueURL(), nil)
			h.notify(pageRollback(), rolledBack())
			h.start()
			evs := h.events(fake, 1)
			h.until("queue drained", func() bool { return h.queued() == 0 })
			if diff := cmp.Diff([]string{"rollback"}, kindsOf(t, evs)); diff != "" {
				t.Fatalf("accepted (-want +got):\n%s", diff)
			}
			if got := fake.Requests(); got != 2 {
				t.Errorf("%d requests, want 2 (the rejected page is not retried)", got)
			}
			if h.failed(incident.Page) != 1 || h.sent(incident.Page) != 0 || h.sent(incident.Rollback) != 1 {
				t.Errorf("page failed %g sent %g, rollback sent %g; want 1, 0, 1",
					h.failed(incident.Page), h.sent(incident.Page), h.sent(incident.Rollback))
			}
			rejected := h.logs.FilterMessage("pagerduty rejected event; dropped").All()
			if len(rejected) != 1 {
				t.Fatalf("%d rejection log lines, want 1", len(rejected))
			}
			f := rejected[0].ContextMap()
			if f["status"] != int64(status) || f["dedup_key"] != IncidentDedupKey(incidentID()) || f["kind"] != "page" {
				t.Errorf("rejection logged with %v", f)
			}
			if status == http.StatusBadRequest {
				if errs, _ := f["pagerduty_errors"].([]any); len(errs) != 1 || errs[0] != "forced by fakepd" {
					t.Errorf("pagerduty_errors = %v, want PagerDuty's errors", f["pagerduty_errors"])
				}
			}
		})
	}
}

// TestQueueBoundInIncidents: the bound counts incidents, not events; a
// new incident beyond it is refused, a resolve never is.
func TestQueueBoundInIncidents(t *testing.T) {
	fake := fakepd.New(t)
	h := newHarness(t, fake.EnqueueURL(), func(o *Options) { o.Paging.PagerDuty.QueueSize = 1 })
	h.notify(pageRollback(), rolledBack()) // one incident, two events
	other := otherIncident(pageRollback())
	if err := h.p.Notify(t.Context(), other); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Notify of a second incident on a full queue = %v, want ErrQueueFull", err)
	}
	h.notify(otherIncident(resolved())) // over the bound: a resolve is never dropped
	if diff := cmp.Diff([]float64{1, 3}, []float64{h.failed(incident.Page), h.queued()}); diff != "" {
		t.Errorf("failed{page}, queue length (-want +got):\n%s", diff)
	}
	h.start()
	evs := h.events(fake, 3)
	got := map[string][]string{}
	for _, ev := range evs {
		got[ev.DedupKey] = append(got[ev.DedupKey], ev.Action)
	}
	want := map[string][]string{
		IncidentDedupKey(incidentID()):   {"trigger", "trigger"},
		IncidentDedupKey(other.Incident): {"resolve"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events by dedup key (-want +got):\n%s", diff)
	}
}

func TestDrainReportsUndelivered(t *testing.T) {
	fake := fakepd.New(t)
	fake.FailNext(100, http.StatusServiceUnavailable)
	h := newHarness(t, fake.EnqueueURL(), nil)
	h.notify(pageRollback(), rolledBack(), rollbackFailed())
	h.start()
	h.until("retries", func() bool { return fake.Requests() >= 3 })
	h.stop()
	if got := h.logs.FilterMessage("pagerduty delivery stopped with undelivered events").Len(); got != 0 {
		t.Errorf("Run reported the queue (%d lines); Drain should", got)
	}
	if got := h.queued(); got != 3 {
		t.Errorf("after Run, queue length %g, want 3 (kept for Drain)", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := h.p.Drain(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 events undelivered") || !errors.Is(err, context.Canceled) {
		t.Errorf("Drain = %v, want 3 events undelivered: context canceled", err)
	}
	lines := h.logs.FilterMessage("pagerduty delivery stopped with undelivered events").All()
	if len(lines) != 1 || lines[0].ContextMap()["undelivered"] != int64(3) {
		t.Fatalf("stop log lines %v, want one with undelivered=3", lines)
	}
	if len(fake.Events()) != 0 {
		t.Errorf("events accepted while PagerDuty was failing")
	}
	for _, k := range []incident.Kind{incident.Page, incident.Rollback, incident.RollbackFailed} {
		if h.failed(k) != 1 {
			t.Errorf("failed{%s} = %g, want 1", k, h.failed(k))
		}
	}
	checkStopped(t, h)
	if err := h.p.Drain(t.Context()); err != nil {
		t.Errorf("second Drain = %v, want nil", err)
	}
	if err := h.p.Run(t.Context()); err == nil {
		t.Error("second Run returned no error")
	}
	if got := h.logs.FilterMessage("pagerduty delivery stopped with undelivered events").Len(); got != 1 {
		t.Errorf("%d stop log lines after a second Drain, want 1", got)
	}
}

func TestLowUrgencyNotices(t *testing.T) {
	tests := []struct {
		name          string
		drift, blind  bool
		action        incident.Action
		wantSent      bool
		wantKey       string
		wantSeverity  string
		wantEventKind incident.Kind
		wantResolved  bool // the event is resolved right after its trigger
	}{
		{name: "drift off by default", action: drift()},
		{name: "blind off by default", action: blind()},
		{name: "blind resolve off by default", action: blindOver()},
		{name: "drift on", drift: true, action: drift(), wantSent: true, wantEventKind: incident.Drift,
			wantKey: "sentinel/drift/shop/checkout@r7", wantSeverity: "info", wantResolved: true},
		{name: "blind on", blind: true, action: blind(), wantSent: true, wantEventKind: incident.Blind,
			wantKey: "sentinel/blind@2025-03-04T10:00:00Z", wantSeverity: "warning"},
		{name: "blind resolve on", blind: true, action: blindOver(), wantSent: true, wantEventKind: incident.Sighted,
			wantKey: "sentinel/blind@2025-03-04T10:00:00Z"},
		{name: "blind on does not send drift", blind: true, action: drift()},
		{name: "drift on does not send blind", drift: true, action: blind()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakepd.New(t)
			edit := func(o *Options) {
				o.Paging.PagerDuty.DriftNotices, o.Paging.PagerDuty.PageWhenBlind = tt.drift, tt.blind
			}
			if !tt.drift && !tt.blind {
				edit = nil // config defaults
			}
			h := newHarness(t, fake.EnqueueURL(), edit)
			h.notify(tt.action)
			if !tt.wantSent {
				if diff := cmp.Diff([]float64{1, 0}, []float64{
					float64(h.logs.FilterMessage("pagerduty event not sent: off in paging.pagerduty").Len()), h.queued()}); diff != "" {
					t.Errorf("not-sent log lines, queue length (-want +got):\n%s", diff)
				}
				return
			}
			h.start()
			n := 1
			if tt.wantResolved {
				n++
			}
			evs := h.events(fake, n)
			h.until("queue drained", func() bool { return h.queued() == 0 })
			if got := fake.Requests(); got != n {
				t.Fatalf("%d requests, want %d", got, n)
			}
			ev := evs[0]
			if ev.DedupKey != tt.wantKey {
				t.Errorf("dedup_key %q, want %q", ev.DedupKey, tt.wantKey)
			}
			if tt.wantSeverity != "" {
				var got string
				if ev.Payload != nil {
					got = ev.Payload.Severity
				}
				if got != tt.wantSeverity {
					t.Errorf("severity %q, want %q", got, tt.wantSeverity)
				}
			}
			if h.sent(tt.wantEventKind) < 1 {
				t.Errorf("sent{%s} not counted", tt.wantEventKind)
			}
			if tt.wantResolved {
				if r := evs[1]; r.Action != "resolve" || r.DedupKey != tt.wantKey || r.Payload != nil {
					t.Errorf("after the trigger: %s %q payload %v, want a resolve of %q", r.Action, r.DedupKey, r.Payload, tt.wantKey)
				}
				if got := h.sent(incident.Resolve); got != 1 {
					t.Errorf("sent{resolve} = %g, want 1 (the notice's)", got)
				}
			}
		})
	}
}

// TestRoutingKeyNeverLeaks makes every kind of failure happen, against
// servers that echo the key back, and looks for the key in every error
// and log line.
// echo is a server answering status with body, given the routing key of
// the request.
func echo(status int, contentType string, body func(key string) string) func(t *testing.T) string {
	return func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var ev struct {
				RoutingKey string `json:"routing_key"`
			}
			_ = json.Unmarshal(b, &ev)
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body(ev.RoutingKey))
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/v2/enqueue"
	}
}

// deliveryTexts runs a page through Run and Drain against a failing
// server and returns every log line, error and rendering of the pagerduty.
func deliveryTexts(t *testing.T, h *harness) []string {
	t.Helper()
	h.notify(pageRollback())
	h.start()
	h.until("a delivery attempt logged", func() bool {
		return h.logs.FilterMessage("pagerduty delivery failed; retrying").Len() > 0 ||
			h.logs.FilterMessage("pagerduty rejected event; dropped").Len() > 0 ||
			h.logs.FilterMessage("pagerduty accepted event with an unreadable answer; counted as delivered").Len() > 0
	})
	h.stop()
	h.notify(pageRollback())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var texts []string
	if err := h.p.Drain(ctx); err != nil {
		texts = append(texts, err.Error())
	}
	for _, l := range h.logs.All() {
		texts = append(texts, l.Message, fmt.Sprint(l.ContextMap()))
	}
	if err := h.p.Notify(t.Context(), pageRollback()); err != nil {
		texts = append(texts, err.Error())
	}
	return append(texts, fmt.Sprintf("%+v", h.p), fmt.Sprintf("%#v", h.p))
}

func TestRoutingKeyNeverLeaks(t *testing.T) {
	invalid := func(key string) string {
		return `{"status":"invalid event","message":"Event object is invalid: ` + key + `","errors":["unknown routing_key ` + key + `"]}`
	}
	tests := []struct {
		name   string
		server func(t *testing.T) string
		retry  bool
	}{
		{"400 echoing the key", echo(400, "application/json", invalid), false},
		{"500 echoing the key as text", echo(500, "text/plain", func(k string) string { return "boom " + k }), true},
		{"500 echoing the key as JSON", echo(500, "application/json", invalid), true},
		{"202 with an unreadable body echoing the key", echo(202, "application/json", func(k string) string { return `{"status":` + k }), false},
		{"fakepd rejecting", func(t *testing.T) string { s := fakepd.New(t); s.FailNext(2, 400); return s.EnqueueURL() }, false},
		{"timeout", func(t *testing.T) string { s := fakepd.New(t); s.HangNext(2); return s.EnqueueURL() }, true},
		{"unreachable", func(t *testing.T) string {
			s := fakepd.New(t)
			s.Close()
			return s.EnqueueURL()
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.server(t), nil)
			var texts []string
			e, ok, _, err := h.p.event(pageRollback())
			if err != nil || !ok {
				t.Fatalf("event: %v %v", ok, err)
			}
			retry, err := h.p.client.send(t.Context(), e.event)
			if err == nil {
				t.Fatal("send succeeded")
			}
			if retry != tt.retry {
				t.Errorf("retry = %v, want %v (%v)", retry, tt.retry, err)
			}
			for err := err; err != nil; err = errors.Unwrap(err) {
				texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			}

			// Through Run too (the server fails again): every log line.
			texts = append(texts, deliveryTexts(t, h)...)
			for _, s := range texts {
				if strings.Contains(s, testKey) {
					t.Errorf("routing key leaked: %s", s)
				}
			}
			if len(h.logs.All()) == 0 {
				t.Error("nothing logged")
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		want []string
	}{
		{name: "valid"},
		{name: "short key", edit: func(o *Options) { o.RoutingKey = "abc" },
			want: []string{"routing key: must be 32 characters, got 3"}},
		{name: "bad dashboard template", edit: func(o *Options) { o.Paging.DashboardURL = "https://g/{{.Deployment}}" },
			want: []string{"paging.dashboard_url:"}},
		{name: "everything", edit: func(o *Options) {
			o.RoutingKey = ""
			o.Paging.DashboardURL = "https://g/{{"
		}, want: []string{"routing key: must be 32 characters, got 0", "paging.dashboard_url:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Paging: config.Default().Paging, RoutingKey: testKey}
			if tt.edit != nil {
				tt.edit(&opts)
			}
			_, err := New(opts)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New returned no error")
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.want) {
				t.Errorf("%d problems reported, want %d:\n%v", got, len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestMetricsPreCreated(t *testing.T) {
	h := newHarness(t, "http://127.0.0.1:1/v2/enqueue", nil)
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			series[mf.GetName()]++
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if v != 0 {
				t.Errorf("%s starts at %g", mf.GetName(), v)
			}
		}
	}
	want := map[string]int{"sentinel_pages_sent_total": len(incident.Kinds()), "sentinel_pages_failed_total": len(incident.Kinds()),
		"sentinel_pager_queue_length": 1}
	for name, n := range want {
		if series[name] != n {
			t.Errorf("%s: %d series, want %d", name, series[name], n)
		}
	}
	if _, err := New(Options{Paging: h.p.cfg, RoutingKey: testKey, Registerer: h.reg}); err == nil {
		t.Error("registering the metrics twice returned no error")
	}
}

func TestDedupKeys(t *testing.T) {
	long := workload.Ref{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("d", 253)}
	other := workload.Ref{Namespace: long.Namespace, Name: strings.Repeat("d", 252) + "e"}
	tests := []struct {
		name string
		key  string
		want string
	}{
		{"incident", IncidentDedupKey(incidentID()), "sentinel/shop/checkout@2025-03-04T10:00:00Z"},
		{"blind", BlindDedupKey(onset().In(time.FixedZone("x", 3600))), "sentinel/blind@2025-03-04T10:00:00Z"},
		{"drift by revision", DriftDedupKey(drift()), "sentinel/drift/shop/checkout@r7"},
		{"long incident", IncidentDedupKey(workload.IncidentID(long, onset())), ""},
		{"drift of a name with a newline: the name as it is", DriftDedupKey(func() incident.Action {
			d := drift()
			d.Workload.Name = "check\nout"
			return d
		}()),
			"sentinel/drift/shop/check\nout@r7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.key) > 255 {
				t.Errorf("key of %d characters", len(tt.key))
			}
			if tt.want != "" && tt.key != tt.want {
				t.Errorf("key %q, want %q", tt.key, tt.want)
			}
		})
	}
	a, b := IncidentDedupKey(workload.IncidentID(long, onset())), IncidentDedupKey(workload.IncidentID(other, onset()))
	if a == b || a != IncidentDedupKey(workload.IncidentID(long, onset())) {
		t.Errorf("long keys not distinct and stable: %q %q", a, b)
	}
}

func TestSummaryTruncated(t *testing.T) {
	fake := fakepd.New(t)
	h := newHarness(t, fake.EnqueueURL(), nil)
	a := rollbackFailed()
	a.Message = strings.Repeat("é", 2000)
	h.notify(a)
	h.start()
	evs := h.events(fake, 1) // fakepd rejects summaries over 1024 characters
	s := evs[0].Payload.Summary
	if len(s) > 1024 || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
		t.Errorf("summary of %d bytes, valid %v, ends %q", len(s), utf8.ValidString(s), s[len(s)-6:])
	}
}

// A summary is one line whatever the names and messages in it hold: a
// newline in a label value or an error is escaped.
func TestSummaryIsOneLine(t *testing.T) {
	fake := fakepd.New(t)
	h := newHarness(t, fake.EnqueueURL(), nil)
	a := rollbackFailed()
	a.Workload.Name = "checkout\n2025-03-04T10:00:00Z  ROLLBACK  shop/web"
	a.Message = "rollback not done: conflict\r\nretry"
	h.notify(a)
	h.start()
	s := h.events(fake, 1)[0].Payload.Summary
	want := `shop/checkout\n2025-03-04T10:00:00Z  ROLLBACK  shop/web: rollback not done: conflict\r\nretry`
	if s != want {
		t.Errorf("summary %q, want %q", s, want)
	}
}

func TestNotifyRejectsIncompleteActions(t *testing.T) {
	tests := []struct {
		name string
		edit func(*incident.Action)
		a    incident.Action
	}{
		{name: "page without incident", a: pageRollback(), edit: func(a *incident.Action) { a.Incident = "" }},
		{name: "rollback without plan", a: rolledBack(), edit: func(a *incident.Action) { a.Plan = nil }},
		{name: "unknown kind", a: pageRollback(), edit: func(a *incident.Action) { a.Kind = incident.Kind(99) }},
		{name: "blind resolve without onset", a: blindOver(), edit: func(a *incident.Action) { a.Onset = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "http://127.0.0.1:1/v2/enqueue", func(o *Options) { o.Paging.PagerDuty.PageWhenBlind = true })
			a := tt.a
			tt.edit(&a)
			if err := h.p.Notify(t.Context(), a); err == nil {
				t.Error("Notify returned no error")
			}
			if h.queued() != 0 {
				t.Error("an incomplete action was queued")
			}
		})
	}
}

// TestDashboardLinkDegrades: a template that passed New's trial but fails
// for a real workload leaves the link out, with one warning, whatever the
// logger; Preview does the same.
func TestDashboardLinkDegrades(t *testing.T) {
	const short = "https://grafana.example.com/d/{{slice .Workload 0 4}}"
	api := func() incident.Action {
		a := pageRollback()
		a.Workload = workload.Ref{Namespace: "shop", Name: "api"}
		return a
	}
	runbook := map[string]any{"href": config.DefaultRunbookURL, "text": "Runbook"}
	tests := []struct {
		name      string
		action    incident.Action
		nilLogger bool
		want      []any
	}{
		{name: "name long enough", action: pageRollback(), want: []any{runbook,
			map[string]any{"href": "https://grafana.example.com/d/chec", "text": "Dashboard: shop/checkout"}}},
		{name: "name too short", action: api(), want: []any{runbook}},
		{name: "name too short, nil logger", action: api(), nilLogger: true, want: []any{runbook}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakepd.New(t)
			h := newHarness(t, fake.EnqueueURL(), func(o *Options) {
				o.Paging.DashboardURL = short
				if tt.nilLogger {
					o.Logger = nil
				}
			})
			h.notify(tt.action)
			h.start()
			evs := h.events(fake, 1)
			var got struct{ Links []any }
			if err := json.Unmarshal(evs[0].Raw, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Links, tt.want) {
				t.Errorf("links %v, want %v", got.Links, tt.want)
			}
			wantWarnings := 0
			if len(tt.want) == 1 && !tt.nilLogger {
				wantWarnings = 1
			}
			if n := h.logs.FilterMessage("dashboard link left out").Len(); n != wantWarnings {
				t.Errorf("%d dashboard warnings, want %d", n, wantWarnings)
			}

			paging := config.Default().Paging
			paging.DashboardURL = short
			ev, ok, err := Preview(paging, tt.action)
			if err != nil || !ok {
				t.Fatalf("Preview = %v, %v", ok, err)
			}
			b, err := json.Marshal(ev.Links)
			if err != nil {
				t.Fatal(err)
			}
			var previewed []any
			if err := json.Unmarshal(b, &previewed); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(previewed, tt.want) {
				t.Errorf("Preview links %v, want %v", previewed, tt.want)
			}
		})
	}
}

// TestUnreadableSuccessIsDelivered: PagerDuty took the event; retrying
// would only get the same answer again.
func TestUnreadableSuccessIsDelivered(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
	}{
		{"202 with broken JSON", http.StatusAccepted, "application/json", `{"status":`},
		{"202 empty", http.StatusAccepted, "application/json", ``},
		{"200 text", http.StatusOK, "text/plain", `ok`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			h := newHarness(t, srv.URL+"/v2/enqueue", nil)
			h.notify(pageRollback(), rolledBack())
			h.start()
			h.until("queue drained", func() bool { return h.queued() == 0 })
			if got := requests.Load(); got != 2 {
				t.Errorf("%d requests, want 2 (no retries)", got)
			}
			for _, k := range []incident.Kind{incident.Page, incident.Rollback} {
				if h.sent(k) != 1 || h.failed(k) != 0 {
					t.Errorf("%s: sent %g failed %g, want 1 and 0", k, h.sent(k), h.failed(k))
				}
			}
			warnings := h.logs.FilterMessage("pagerduty accepted event with an unreadable answer; counted as delivered").All()
			if len(warnings) != 2 || warnings[0].ContextMap()["status"] != int64(tt.status) {
				t.Errorf("warnings %v, want 2 with status %d", warnings, tt.status)
			}
			if n := h.logs.FilterMessage("pagerduty delivery failed; retrying").Len(); n != 0 {
				t.Errorf("%d retries", n)
			}
		})
	}
}

// TestNotSentIsNotRetried: when the request cannot even be built, every
// attempt would fail the same way.
func TestNotSentIsNotRetried(t *testing.T) {
	h := newHarness(t, "http://[::1/v2/enqueue", nil) // unparseable host
	h.notify(pageRollback(), rolledBack())
	h.start()
	h.until("queue drained", func() bool { return h.queued() == 0 })
	if h.failed(incident.Page) != 1 || h.failed(incident.Rollback) != 1 {
		t.Errorf("failed page %g rollback %g, want 1 and 1", h.failed(incident.Page), h.failed(incident.Rollback))
	}
	if n := h.logs.FilterMessage("pagerduty event could not be sent; dropped").Len(); n != 2 {
		t.Errorf("%d drop log lines, want 2", n)
	}
	if n := h.logs.FilterMessage("pagerduty delivery failed; retrying").Len(); n != 0 {
		t.Errorf("%d retries", n)
	}
}

// TestNonFiniteRatioStillPages: JSON cannot carry NaN; the page goes out
// without the ratio instead of failing to encode forever.
func TestNonFiniteRatioStillPages(t *testing.T) {
	fake := fakepd.New(t)
	h := newHarness(t, fake.EnqueueURL(), nil)
	a := pageRollback()
	a.Ratio, a.Requests = math.NaN(), math.Inf(1)
	h.notify(a)
	h.start()
	evs := h.events(fake, 1)
	var d map[string]any
	if err := json.Unmarshal(evs[0].Payload.CustomDetails, &d); err != nil {
		t.Fatal(err)
	}
	if _, ok := d["error_ratio"]; ok {
		t.Errorf("error_ratio = %v, want it left out", d["error_ratio"])
	}
	if _, ok := d["request_rate"]; ok {
		t.Errorf("request_rate = %v, want it left out", d["request_rate"])
	}
	h.until("the page counted as sent", func() bool { return h.sent(incident.Page) == 1 })
}

// TestRejectedDriftIsNotResolved: the resolve follows only a trigger
// PagerDuty accepted.
func TestRejectedDriftIsNotResolved(t *testing.T) {
	fake := fakepd.New(t)
	fake.FailNext(1, http.StatusBadRequest)
	h := newHarness(t, fake.EnqueueURL(), func(o *Options) { o.Paging.PagerDuty.DriftNotices = true })
	h.notify(drift())
	h.start()
	h.until("the drift rejected", func() bool { return h.failed(incident.Drift) == 1 })
	h.until("queue drained", func() bool { return h.queued() == 0 })
	if diff := cmp.Diff([]int{1, 0}, []int{fake.Requests(), len(fake.Events())}); diff != "" {
		t.Errorf("requests, accepted events (-want +got):\n%s", diff)
	}
	if got := h.sent(incident.Resolve); got != 0 {
		t.Errorf("sent{resolve} = %g, want 0: no resolve after a rejected drift", got)
	}
}

// TestWideChangePageIsSmall: a change of fifty containers gives a page
// that names the changed containers and stays within 4 KB, rather than
// listing every image.
func TestWideChangePageIsSmall(t *testing.T) {
	wide := func(tag string) []history.Image {
		out := make([]history.Image, 50)
		for i := range out {
			out[i] = history.Image{Container: fmt.Sprintf("c%02d", i), Image: fmt.Sprintf("registry.example.com/shop/c%02d:%s", i, tag)}
		}
		return out
	}
	a := pageRollback()
	a.Cause.ImagesBefore, a.Cause.ImagesAfter = wide("v1"), wide("v2")
	a.Decision.Plan.FromImages, a.Decision.Plan.ToImages = wide("v2"), wide("v1")
	ev, ok, err := Preview(config.Default().Paging, a)
	if err != nil || !ok {
		t.Fatalf("Preview: %v %v", ok, err)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4096 || !strings.Contains(ev.Payload.Summary, "c00 from c00:v1 to c00:v2") {
		t.Errorf("event of %d bytes, summary %q; want at most 4096 bytes naming the changed containers", len(b), ev.Payload.Summary)
	}
}
