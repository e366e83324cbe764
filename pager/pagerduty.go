// Package pager sends sentinel's actions to PagerDuty as Events API v2
// events, through github.com/PagerDuty/go-pagerduty.
//
// PagerDuty is an engine.Notifier. Notify never touches the network: it
// turns the action into an event and queues it in a bounded FIFO; Run
// delivers the queue in order. A delivery that fails with 429, 408, 5xx, a
// network error or a timeout is retried, with the exponential backoff of
// k8s.io/apimachinery/pkg/util/wait on the injected clock, until it
// succeeds: later events wait behind it, so nothing is lost or reordered
// while PagerDuty is briefly unreachable, and the dedup key makes a retry
// of an event PagerDuty did receive harmless. Any other answer (400: the
// event is invalid) is logged with PagerDuty's errors and the event is
// dropped; retrying would not change the answer. So is an event that
// could not be sent at all (the request could not be built). A 2xx whose
// body cannot be read is counted as delivered, with a warning: PagerDuty
// took the event, and a retry would get the same answer.
//
// On shutdown, after the engine has stopped, Drain delivers what is still
// queued until its context ends; what is left then is logged with its
// count and counted in sentinel_pages_failed_total.
//
// Every action of one incident shares one dedup key, derived from the
// incident id (IncidentDedupKey), so replicas and restarts address the
// same alert: the page triggers it, the rollback and failure notices
// update it, the resolve resolves it.
//
// A drift notice has nothing that would later resolve it, so once its
// trigger is accepted the pager resolves it at once with the same dedup
// key (DriftDedupKey): the notice stays in the service's log without
// leaving an open alert. PagerDuty's Change Events API would say the same
// without an alert, but change events have no dedup key, so every replica
// reporting one change would add its own.
//
// The routing key is added to an event only at the moment it is sent. No
// error or log line carries the event, the request or the key; errors
// from go-pagerduty are reduced to their status and PagerDuty's own error
// strings, with any occurrence of the key replaced.
package pager

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
)

// Limits of the Events API v2.
const (
	routingKeyLen = 32
	maxSummary    = 1024
	maxDedupKey   = 255
	enqueuePath   = "/v2/enqueue"
)

// Source is the payload.source of every event.
const Source = "sentinel"

// Kind is what an event reports; the label of the pager's metrics.
type Kind string

const (
	// KindPage triggers the incident's alert.
	KindPage Kind = "page"
	// KindRollback updates the incident's alert with the rollback done.
	KindRollback Kind = "rollback"
	// KindNotice updates the incident's alert with a notice (a failed
	// rollback).
	KindNotice Kind = "notice"
	// KindResolve resolves an alert.
	KindResolve Kind = "resolve"
	// KindDrift is a low-urgency alert: an image changed outside the
	// trusted deployers (paging.pagerduty.drift_notices).
	KindDrift Kind = "drift"
	// KindBlind is a low-urgency alert: the metrics source stopped
	// answering (paging.pagerduty.page_when_blind).
	KindBlind Kind = "blind"
)

// Kinds lists every kind, so metrics can be pre-created.
func Kinds() []Kind {
	return []Kind{KindPage, KindRollback, KindNotice, KindResolve, KindDrift, KindBlind}
}

// Severities of the low-urgency events. With a service's urgency set to
// "based on alert severity", warning and info are low urgency.
const (
	driftSeverity = "info"
	blindSeverity = "warning"
)

// Options are what New needs.
type Options struct {
	// Paging gives the runbook and dashboard links and, in
	// Paging.PagerDuty, the endpoint, severity, timeout, queue size and
	// which low-urgency events are sent.
	Paging config.Paging
	// RoutingKey is the integration key (config.ReadSecret).
	RoutingKey config.Secret
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Registerer takes the pager's metrics; nil registers none.
	Registerer prometheus.Registerer
	// HTTPClient sends the events; nil uses a new http.Client. Each
	// attempt is bounded by Paging.PagerDuty.Timeout in any case.
	HTTPClient *http.Client
	// Clock times the backoff between retries; nil is the real clock.
	Clock clock.Clock
	// Backoff between retries of one event; the zero value is 1s doubling
	// to at most 1m, with 10% jitter, forever.
	Backoff wait.Backoff
}

// PagerDuty is an engine.Notifier that pages through PagerDuty.
type PagerDuty struct {
	cfg config.Paging
	// key is behind a pointer so that printing a PagerDuty with %v shows
	// an address, not the key.
	key       *config.Secret
	client    *pagerduty.Client
	dashboard *template.Template
	log       *zap.Logger
	clock     clock.Clock
	backoff   wait.Backoff
	queue     *queue

	mu sync.Mutex
	// ran is set by Run, draining by Drain; halt is closed by Drain to
	// stop Run, and runDone by Run when it returns.
	ran, draining bool
	halt          chan struct{}
	runDone       chan struct{}

	sent, failed *prometheus.CounterVec
	queueLength  prometheus.Gauge
}

// New returns a notifier; call Run to deliver what it queues. It checks
// what it is given and reports every problem at once.
func New(opts Options) (*PagerDuty, error) {
	pd := opts.Paging.PagerDuty
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// go-pagerduty appends the path to the endpoint it is given.
	base, ok := strings.CutSuffix(pd.URL, enqueuePath)
	if !ok || base == "" {
		bad("paging.pagerduty.url: must be the Events API v2 endpoint ending in %s, got %q", enqueuePath, pd.URL)
	}
	if n := len(opts.RoutingKey.Reveal()); n != routingKeyLen {
		bad("paging.pagerduty routing key: must be %d characters, got %d", routingKeyLen, n)
	}
	switch pd.Severity {
	case "critical", "error", "warning", "info":
	default:
		bad("paging.pagerduty.severity: must be critical, error, warning or info, got %q", pd.Severity)
	}
	if pd.Timeout <= 0 {
		bad("paging.pagerduty.timeout: must be positive, got %s", pd.Timeout)
	}
	if pd.QueueSize < 1 {
		bad("paging.pagerduty.queue_size: must be at least 1, got %d", pd.QueueSize)
	}
	dashboard, err := parseDashboard(opts.Paging.DashboardURL)
	if err != nil {
		bad("paging.dashboard_url: %v", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	key := opts.RoutingKey
	p := &PagerDuty{
		cfg: opts.Paging, key: &key, dashboard: dashboard,
		log: opts.Logger, clock: opts.Clock, backoff: opts.Backoff,
		queue: newQueue(pd.QueueSize), halt: make(chan struct{}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinel_pages_sent_total",
			Help: "Events PagerDuty accepted, by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinel_pages_failed_total",
			Help: "Events never delivered to PagerDuty, by kind: rejected by PagerDuty, refused by a full queue, or still queued at shutdown.",
		}, []string{"kind"}),
		queueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sentinel_pager_queue_length",
			Help: "Events waiting for delivery to PagerDuty, including the one being sent or retried.",
		}),
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	if p.backoff == (wait.Backoff{}) {
		p.backoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: time.Minute}
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	p.client = pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(base))
	p.client.HTTPClient = answerRecorder{httpClient}

	for _, k := range Kinds() {
		p.sent.WithLabelValues(string(k))
		p.failed.WithLabelValues(string(k))
	}
	if r := opts.Registerer; r != nil {
		var done []prometheus.Collector
		for _, c := range []prometheus.Collector{p.sent, p.failed, p.queueLength} {
			if err := r.Register(c); err != nil {
				for _, d := range done {
					r.Unregister(d)
				}
				return nil, fmt.Errorf("register pager metrics: %w", err)
			}
			done = append(done, c)
		}
	}
	return p, nil
}

// parseDashboard parses the dashboard URL template and tries it once, so
// a template that cannot render fails at startup, not in a page. The
// trial cannot catch everything ({{slice .Workload 0 4}} fails only on
// shorter names): such a page goes out without the link (links).
func parseDashboard(s string) (*template.Template, error) {
	if s == "" {
		return nil, nil
	}
	t, err := template.New("dashboard_url").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, dashboardData{Namespace: "ns", Workload: "name"}); err != nil {
		return nil, fmt.Errorf("only {{.Namespace}} and {{.Workload}} can be used: %v", err)
	}
	return t, nil
}

type dashboardData struct{ Namespace, Workload string }

// pending is an event waiting for delivery. It never holds the routing
// key.
type pending struct {
	kind     Kind
	incident string
	event    pagerduty.V2Event
	// then takes the event's place in the queue once PagerDuty accepted
	// it: the resolve of a drift notice.
	then *pending
}

// Notify turns an action into an event and queues it; it does not wait
// for delivery. A drift or blind notice is dropped (nil) when its option
// is off. A full queue is an error, counted in sentinel_pages_failed_total;
// so is ErrStopped, once Drain has stopped the pager.
//
// The engine tells notices apart by what they carry: a notice with an
// Incident updates that incident's alert; one without an Incident but
// with a Workload is a drift notice; one with neither is a blind notice,
// whose alert is keyed by its Onset (the first poll without an answer)
// and which a Resolve with neither Incident nor Workload, with the same
// Onset, resolves.
func (p *PagerDuty) Notify(_ context.Context, a incident.Action) error {
	e, ok, linkErr, err := p.event(a)
	if err != nil {
		return fmt.Errorf("pagerduty event for %s action: %w", a.Kind, err)
	}
	if linkErr != nil {
		p.log.Warn("dashboard link left out", zap.String("workload", a.Workload.String()), zap.Error(linkErr))
	}
	if !ok {
		p.log.Debug("pagerduty event not sent: off in paging.pagerduty",
			zap.String("kind", string(e.kind)), zap.String("workload", a.Workload.String()))
		return nil
	}
	n, err := p.queue.push(e)
	p.queueLength.Set(float64(n))
	if err != nil {
		p.failed.WithLabelValues(string(e.kind)).Inc()
		return fmt.Errorf("queue pagerduty %s event %s: %w", e.kind, e.event.DedupKey, err)
	}
	return nil
}

// Run delivers queued events in order until ctx ends (or Drain is
// called), then returns nil. What is still queued then stays queued, and
// Notify keeps queueing: Drain delivers it. Run may be called once; after
// Drain it returns ErrStopped.
func (p *PagerDuty) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ran {
		p.mu.Unlock()
		return errors.New("pagerduty: Run called twice")
	}
	p.ran = true
	if p.draining {
		p.mu.Unlock()
		return ErrStopped
	}
	done := make(chan struct{})
	p.runDone = done
	p.mu.Unlock()
	defer close(done)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.halt:
			cancel()
		case <-ctx.Done():
		}
	}()
	p.work(ctx, true)
	return nil
}

// Drain stops the pager: it stops Run if Run is still going and waits for
// it to return, delivers what is queued, in order, until the queue is
// empty or ctx ends, and then refuses further events (Notify returns
// ErrStopped). Events still queued then, including one being retried,
// are not delivered: one log line reports how many, they are counted in
// sentinel_pages_failed_total, and the error says how many. Call it once
// the engine has stopped, with a deadline of a few seconds; later calls
// return nil at once.
func (p *PagerDuty) Drain(ctx context.Context) error {
	p.mu.Lock()
	if p.draining {
		p.mu.Unlock()
		return nil
	}
	p.draining = true
	close(p.halt)
	runDone := p.runDone
	p.mu.Unlock()

	if runDone != nil {
		select {
		case <-runDone:
		case <-ctx.Done():
		}
	}
	p.work(ctx, false)
	if left := p.stop(); left > 0 {
		return fmt.Errorf("pagerduty: %d events undelivered: %w", left, context.Cause(ctx))
	}
	return nil
}

// work delivers queued events in order until ctx ends; when wait is
// false, also once the queue is empty.
func (p *PagerDuty) work(ctx context.Context, wait bool) {
	for ctx.Err() == nil {
		e, ok := p.queue.head()
		if !ok {
			if !wait {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-p.queue.ready:
				continue
			}
		}
		switch p.deliver(ctx, e) {
		case interrupted:
			return
		case delivered:
			if e.then != nil {
				p.queue.replaceHead(*e.then)
				continue
			}
		}
		p.queueLength.Set(float64(p.queue.pop()))
	}
}

// stop closes the queue, reports what it held and returns how many.
func (p *PagerDuty) stop() int {
	left := p.queue.close()
	p.queueLength.Set(0)
	if len(left) == 0 {
		return 0
	}
	byKind := map[string]int{}
	for _, e := range left {
		byKind[string(e.kind)]++
		p.failed.WithLabelValues(string(e.kind)).Inc()
	}
	p.log.Warn("pagerduty delivery stopped with undelivered events",
		zap.Int("undelivered", len(left)), zap.Any("by_kind", byKind),
		zap.String("oldest_dedup_key", left[0].event.DedupKey))
	return len(left)
}

// outcome is how the delivery of one event ended.
type outcome int

const (
	delivered   outcome = iota // PagerDuty accepted it
	dropped                    // it can never be delivered
	interrupted                // ctx ended first; it is still the head
)

// deliver sends e until it is accepted or rejected for good, or ctx ends.
func (p *PagerDuty) deliver(ctx context.Context, e pending) outcome {
	b := p.backoff
	fields := []zap.Field{zap.String("kind", string(e.kind)), zap.String("event_action", e.event.Action),
		zap.String("dedup_key", e.event.DedupKey), zap.String("incident", e.incident)}
	for attempt := 1; ; attempt++ {
		retry, err := p.send(ctx, e)
		if err == nil {
			p.sent.WithLabelValues(string(e.kind)).Inc()
			p.log.Info("pagerduty event delivered", append(fields, zap.Int("attempts", attempt))...)
			return delivered
		}
		if ctx.Err() != nil {
			return interrupted
		}
		var de *DeliveryError
		if !errors.As(err, &de) {
			de = &DeliveryError{msg: err.Error()}
		}
		if !retry {
			return p.giveUp(e, attempt, de, fields)
		}
		delay := b.Step()
		p.log.Warn("pagerduty delivery failed; retrying", append(fields, zap.Int("attempt", attempt),
			zap.Int("status", de.Status), zap.Duration("retry_in", delay), zap.Error(de))...)
		t := p.clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return interrupted
		case <-t.C():
		}
	}
}

// giveUp ends the delivery of e after an answer that another attempt
// would not change.
func (p *PagerDuty) giveUp(e pending, attempts int, de *DeliveryError, fields []zap.Field) outcome {
	fields = append(fields, zap.Int("attempts", attempts), zap.Int("status", de.Status))
	switch {
	case success(de.Status):
		p.sent.WithLabelValues(string(e.kind)).Inc()
		p.log.Warn("pagerduty accepted event with an unreadable answer; counted as delivered",
			append(fields, zap.Error(de))...)
		return delivered
	case de.Status == 0:
		p.failed.WithLabelValues(string(e.kind)).Inc()
		p.log.Error("pagerduty event could not be sent; dropped", append(fields, zap.Error(de))...)
		return dropped
	default:
		p.failed.WithLabelValues(string(e.kind)).Inc()
		p.log.Error("pagerduty rejected event; dropped",
			append(fields, zap.Strings("pagerduty_errors", de.Errors), zap.Error(de))...)
		return dropped
	}
}

// DeliveryError is a failed attempt to send an event. It carries the HTTP
// status (0 when there was no answer) and PagerDuty's error strings, never
// the event or the routing key.
type DeliveryError struct {
	Status int
	Errors []string
	msg    string
}

func (e *DeliveryError) Error() string { return e.msg }

// send makes one attempt. retry says whether another attempt can
// succeed; err is always a *DeliveryError.
func (p *PagerDuty) send(ctx context.Context, e pending) (retry bool, err error) {
	attemptCtx, cancel := context.WithTimeout(ctx, p.cfg.PagerDuty.Timeout)
	defer cancel()
	ans := &answer{}
	ev := e.event
	ev.RoutingKey = p.key.Reveal()
	_, err = p.client.ManageEventWithContext(context.WithValue(attemptCtx, answerKey{}, ans), &ev)
	if err == nil {
		return false, nil
	}
	// go-pagerduty's errors may quote the request; keep only what we need.
	de := &DeliveryError{Status: ans.status}
	var apiErr pagerduty.APIError
	if errors.As(err, &apiErr) {
		de.Status = apiErr.StatusCode
	}
	for _, s := range ans.body.Errors {
		de.Errors = append(de.Errors, p.scrub(s))
	}
	switch {
	case !ans.sent && ctx.Err() == nil:
		// Nothing went out (the request could not be built): another
		// attempt would fail the same way.
		de.msg = "send to pagerduty: " + p.scrub(err.Error())
		return false, de
	case success(de.Status):
		de.msg = fmt.Sprintf("send to pagerduty: answered %d with an unreadable body: %s", de.Status, p.scrub(err.Error()))
	case de.Status != 0:
		de.msg = fmt.Sprintf("send to pagerduty: answered %d", de.Status)
		if s := strings.Join(nonEmpty(ans.body.Status, ans.body.Message), ": "); s != "" {
			de.msg += " " + p.scrub(s)
		}
		if len(de.Errors) > 0 {
			de.msg += ": " + strings.Join(de.Errors, "; ")
		}
	case errors.Is(attemptCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		de.msg = fmt.Sprintf("send to pagerduty: no answer within %s", p.cfg.PagerDuty.Timeout)
	default:
		de.msg = "send to pagerduty: " + p.scrub(err.Error())
	}
	return retryable(de.Status), de
}

// retryable: no answer, a timeout, throttling or a server error. Other
// answers would not change: a 4xx (400: invalid event), or a 2xx whose
// body could not be read (PagerDuty took the event).
func retryable(status int) bool {
	switch {
	case status == 0:
		return true
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// success is a 2xx status.
func success(status int) bool { return status >= 200 && status < 300 }

func (p *PagerDuty) scrub(s string) string {
	if k := p.key.Reveal(); k != "" {
		s = strings.ReplaceAll(s, k, config.Secret("").String())
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// answerKey carries an *answer in a request's context.
type answerKey struct{}

// answer is what an attempt's response said. go-pagerduty decodes error
// bodies as the REST API's shape, which the Events API's 400 does not
// have, so its errors are read here.
type answer struct {
	// sent is set once the request is handed to the HTTP client.
	sent   bool
	status int
	body   pagerduty.V2EventResponse
}

// answerRecorder is the HTTP client given to go-pagerduty: it records
// the status and error body of each response in the request's answer.
type answerRecorder struct{ c *http.Client }

func (r answerRecorder) Do(req *http.Request) (*http.Response, error) {
	ans, _ := req.Context().Value(answerKey{}).(*answer)
	if ans != nil {
		ans.sent = true
	}
	resp, err := r.c.Do(req)
	if err != nil || ans == nil {
		return resp, err
	}
	ans.status = resp.StatusCode
	if success(resp.StatusCode) {
		return resp, nil
	}
	b, readErr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if readErr == nil {
		_ = json.Unmarshal(b, &ans.body)
	}
	return resp, nil
}

// event maps an action to its event; ok is false when the action is not
// sent (a drift or blind notice whose option is off). linkErr says why
// the dashboard link was left out; the event is sent without it.
func (p *PagerDuty) event(a incident.Action) (e pending, ok bool, linkErr, err error) {
	var noWorkload detector.Workload
	e.incident = a.Incident
	ev := &e.event
	ev.Action = "trigger"
	ev.Client = Source
	severity, class, summary := p.cfg.PagerDuty.Severity, "error_ratio", ""

	switch {
	case a.Kind == incident.Resolve && a.Incident == "" && a.Workload == noWorkload:
		if a.Onset.IsZero() {
			return e, false, nil, errors.New("resolve of a blind notice without its onset")
		}
		e.kind = KindResolve
		ev.Action = "resolve"
		ev.DedupKey = BlindDedupKey(a.Onset)
		return e, p.cfg.PagerDuty.PageWhenBlind, nil, nil
	case a.Kind == incident.Notice && a.Incident == "" && a.Workload != noWorkload:
		e.kind = KindDrift
		ev.DedupKey = DriftDedupKey(a)
		severity, class, summary = driftSeverity, "image_drift", a.Summary()
		if !p.cfg.PagerDuty.DriftNotices {
			return e, false, nil, nil
		}
		// Nothing resolves a drift notice later: resolve it as soon as it
		// is in PagerDuty's log (see the package doc).
		e.then = &pending{kind: KindResolve, event: pagerduty.V2Event{
			Action: "resolve", Client: Source, DedupKey: ev.DedupKey}}
	case a.Kind == incident.Notice && a.Incident == "":
		e.kind = KindBlind
		ev.DedupKey = BlindDedupKey(cmp.Or(a.Onset, a.At))
		severity, class, summary = blindSeverity, "metrics_blind", Source+": "+a.Message
		if !p.cfg.PagerDuty.PageWhenBlind {
			return e, false, nil, nil
		}
	case a.Incident == "":
		return e, false, nil, errors.New("action without an incident id")
	case a.Kind == incident.Page:
		e.kind = KindPage
	case a.Kind == incident.Rollback:
		if a.Plan == nil {
			return e, false, nil, errors.New("rollback without a plan")
		}
		e.kind = KindRollback
	case a.Kind == incident.Notice:
		e.kind = KindNotice
	case a.Kind == incident.Resolve:
		e.kind = KindResolve
		ev.Action = "resolve"
		ev.DedupKey = IncidentDedupKey(a.Incident)
		return e, true, nil, nil
	default:
		return e, false, nil, fmt.Errorf("unknown action kind %q", a.Kind)
	}
	if ev.DedupKey == "" {
		// Rollback and notices are triggers with the page's dedup key:
		// PagerDuty adds them to the open alert instead of paging again,
		// so the on-call sees what sentinel did in the alert's log.
		ev.DedupKey = IncidentDedupKey(a.Incident)
		summary = a.Summary()
	}
	ev.Payload = &pagerduty.V2Payload{
		Summary:   truncate(summary, maxSummary),
		Source:    Source,
		Severity:  severity,
		Component: a.Workload.Name,
		Group:     a.Workload.Namespace,
		Class:     class,
		Details:   details(e.kind, a),
	}
	if !a.At.IsZero() {
		ev.Payload.Timestamp = a.At.UTC().Format(time.RFC3339)
	}
	ev.Links, linkErr = p.links(a)
	return e, true, linkErr, nil
}

// link is an entry of an event's links.
type link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// links are the runbook and dashboard links of a's event. A dashboard
// template that fails for this workload leaves its link out; the error
// says why, for the caller to log.
func (p *PagerDuty) links(a incident.Action) ([]any, error) {
	var links []any
	if u := cmp.Or(a.RunbookURL, p.cfg.RunbookURL); u != "" {
		links = append(links, link{Href: u, Text: "Runbook"})
	}
	if p.dashboard == nil || a.Workload == (detector.Workload{}) {
		return links, nil
	}
	var b strings.Builder
	if err := p.dashboard.Execute(&b, dashboardData{Namespace: a.Workload.Namespace, Workload: a.Workload.Name}); err != nil {
		return links, fmt.Errorf("render paging.dashboard_url: %w", err)
	}
	return append(links, link{Href: b.String(), Text: "Dashboard: " + a.Workload.String()}), nil
}

// customDetails is an event's payload.custom_details.
type customDetails struct {
	Incident     string    `json:"incident,omitempty"`
	Action       Kind      `json:"action"`
	Namespace    string    `json:"namespace,omitempty"`
	Workload     string    `json:"workload,omitempty"`
	ErrorRatio   *float64  `json:"error_ratio,omitempty"`
	RequestRate  *float64  `json:"request_rate,omitempty"` // requests per second
	FailureCodes string    `json:"failure_codes,omitempty"`
	Onset        string    `json:"onset,omitempty"`
	Change       *change   `json:"change,omitempty"`
	Decision     *decision `json:"decision,omitempty"`
	Rollback     *plan     `json:"rollback,omitempty"`
	ActionTaken  string    `json:"action_taken,omitempty"`
	Message      string    `json:"message,omitempty"`
}

// change is the change linked to an incident.
type change struct {
	Revision     int64           `json:"revision"`
	At           string          `json:"at"`
	Manager      string          `json:"manager"`
	ViaHelm      bool            `json:"via_helm"`
	ImageChanged bool            `json:"image_changed"`
	ImagesBefore []history.Image `json:"images_before"`
	ImagesAfter  []history.Image `json:"images_after"`
	Changed      []string        `json:"changed,omitempty"`
}

type decision struct {
	Rollback    bool   `json:"rollback"`
	Reason      string `json:"reason"`
	Explanation string `json:"explanation"`
	Plan        *plan  `json:"plan,omitempty"`
}

type plan struct {
	FromRevision int64           `json:"from_revision"`
	ToRevision   int64           `json:"to_revision"`
	FromImages   []history.Image `json:"from_images"`
	ToImages     []history.Image `json:"to_images"`
	DryRun       bool            `json:"dry_run"`
}

func details(k Kind, a incident.Action) customDetails {
	d := customDetails{Incident: a.Incident, Action: k, Namespace: a.Workload.Namespace,
		Workload: a.Workload.Name, Message: a.Message}
	if !a.Onset.IsZero() {
		d.Onset = a.Onset.UTC().Format(time.RFC3339)
	}
	if c := a.Cause; c != nil {
		d.Change = &change{Revision: c.Revision, At: c.At.UTC().Format(time.RFC3339), Manager: c.Manager,
			ViaHelm: incident.ViaHelm(c.Manager), ImageChanged: c.ImageChanged,
			ImagesBefore: c.ImagesBefore, ImagesAfter: c.ImagesAfter, Changed: c.Fields}
	}
	switch k {
	case KindDrift, KindBlind:
		return d
	}
	d.ErrorRatio, d.RequestRate, d.FailureCodes = round(a.Ratio, 4), round(a.Requests, 3), a.FailureCodes
	switch k {
	case KindPage:
		dec := a.Decision
		d.Decision = &decision{Rollback: dec.Rollback, Reason: string(dec.Reason),
			Explanation: dec.Explain(), Plan: planOf(dec.Plan)}
		switch {
		case dec.Rollback && dec.Plan != nil && dec.Plan.DryRun:
			d.ActionTaken = fmt.Sprintf("would roll back to revision %d (%s); dry-run",
				dec.Plan.ToRevision, incident.ShortImages(dec.Plan.ToImages))
		case dec.Rollback && dec.Plan != nil:
			d.ActionTaken = fmt.Sprintf("rolling back to revision %d (%s)",
				dec.Plan.ToRevision, incident.ShortImages(dec.Plan.ToImages))
		default:
			d.ActionTaken = "not rolled back: " + dec.Explain()
		}
	case KindRollback:
		pl := a.Plan
		d.Rollback = planOf(pl)
		verb := "rolled back"
		if pl.DryRun {
			verb = "would have rolled back (dry-run)"
		}
		d.ActionTaken = fmt.Sprintf("%s from revision %d (%s) to revision %d (%s)", verb,
			pl.FromRevision, incident.ShortImages(pl.FromImages), pl.ToRevision, incident.ShortImages(pl.ToImages))
	case KindNotice:
		// The engine's message says what failed ("rollback to revision 6
		// failed: ...").
		d.Rollback = planOf(a.Plan)
		d.ActionTaken, d.Message = a.Message, ""
	}
	return d
}

func planOf(p *rollback.Plan) *plan {
	if p == nil {
		return nil
	}
	return &plan{FromRevision: p.FromRevision, ToRevision: p.ToRevision,
		FromImages: p.FromImages, ToImages: p.ToImages, DryRun: p.DryRun}
}

// round rounds v to digits decimals; it is nil when v is NaN or infinite,
// which JSON cannot carry: the event goes out without it rather than
// failing to encode on every attempt.
func round(v float64, digits int) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	p := math.Pow10(digits)
	r := math.Round(v*p) / p
	return &r
}

// IncidentDedupKey is the dedup key of every event of an incident:
// "sentinel/" and the incident id (detector.IncidentID, which the same
// workload and onset always give), so replicas and restarts agree on it.
func IncidentDedupKey(incidentID string) string {
	return limitKey("sentinel/" + incidentID)
}

// DriftDedupKey keys a drift notice by its workload and the revision the
// change created (else the change's time, else the action's), so replicas
// reporting the same change update one alert.
func DriftDedupKey(a incident.Action) string {
	at := "@" + a.At.UTC().Format(time.RFC3339)
	if c := a.Cause; c != nil && c.Revision > 0 {
		at = fmt.Sprintf("@r%d", c.Revision)
	} else if c != nil && !c.At.IsZero() {
		at = "@" + c.At.UTC().Format(time.RFC3339)
	}
	return limitKey("sentinel/drift/" + a.Workload.String() + at)
}

// BlindDedupKey keys a blind notice by the first poll without an answer.
func BlindDedupKey(onset time.Time) string {
	return "sentinel/blind@" + onset.UTC().Format(time.RFC3339)
}

// limitKey keeps a dedup key within PagerDuty's 255 characters: a longer
// key is cut and ends in a hash of the whole, so it stays unique and
// stable.
func limitKey(k string) string {
	if len(k) <= maxDedupKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	h := hex.EncodeToString(sum[:8])
	cut := maxDedupKey - len(h) - 1
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "~" + h
}

// truncate cuts s to at most max bytes (so also max characters) on a
// character boundary, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Preview returns the Events API v2 event the pager would send for a,
// with the routing key shown as <secret>; ok is false when a is not sent
// (a drift or blind notice whose option is off). `sentinel simulate -o
// pagerduty` prints these, so a user sees what the on-call would receive.
// As in the daemon, a dashboard link that cannot be rendered for a's
// workload is left out. The resolve that follows a drift notice's
// trigger is not shown.
func Preview(paging config.Paging, a incident.Action) (ev pagerduty.V2Event, ok bool, err error) {
	dashboard, err := parseDashboard(paging.DashboardURL)
	if err != nil {
		return ev, false, fmt.Errorf("paging.dashboard_url: %w", err)
	}
	p := &PagerDuty{cfg: paging, dashboard: dashboard, log: zap.NewNop()}
	e, ok, _, err := p.event(a)
	e.event.RoutingKey = config.Secret("").String()
	return e.event, ok, err
}
