// Package pagerduty sends sentinel's actions to PagerDuty as Events API v2
// events, through github.com/PagerDuty/go-pagerduty. Notify maps an action
// to its event (event.go; change events: change.go) and queues it; Run
// delivers each dedup key's lane in order, retrying with backoff
// (queue.go, deliver.go); client.go posts one event and classifies the
// answer. Every event of an incident shares one dedup key, and the
// routing key is added only as an event is sent. See docs/paging.md.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
)

// routingKeyLen is the length of an Events API v2 integration key.
const routingKeyLen = 32

// Options are what New needs.
type Options struct {
	// Paging gives the runbook and dashboard links and, in
	// Paging.PagerDuty, the endpoint, severity, timeout, queue size and
	// which low-urgency events are sent. It has passed config.Validate.
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
	// Clock times the waits between retries; nil is the real clock.
	Clock clock.Clock
	// Backoff between retries of one event; the zero value is 1s doubling
	// to at most 1m, with 10% jitter, forever.
	Backoff wait.Backoff
}

// PagerDuty is an engine.Notifier that pages through PagerDuty.
type PagerDuty struct {
	mapper
	client  *client
	log     *zap.Logger
	clock   clock.Clock
	backoff wait.Backoff
	queue   *queue
	// throttle holds every lane after a Retry-After answered to an alert
	// event, changeThrottle the change events' after one answered to a
	// change event.
	throttle, changeThrottle throttle

	mu sync.Mutex
	// ran is set by Run, draining by Drain; halt is closed by Drain to
	// stop Run, and runDone by Run when it returns.
	ran, draining bool
	halt          chan struct{}
	runDone       chan struct{}

	sent, failed *prometheus.CounterVec
	queueLength  prometheus.Gauge
}

// New returns a notifier; call Run to deliver what it queues. The
// configuration has passed config.Validate; New checks what that cannot:
// the routing key's length and that the dashboard template renders.
func New(opts Options) (*PagerDuty, error) {
	var errs []error
	if n := len(opts.RoutingKey.Reveal()); n != routingKeyLen {
		errs = append(errs, fmt.Errorf("paging.pagerduty routing key: must be %d characters, got %d", routingKeyLen, n))
	}
	dashboard, err := parseDashboard(opts.Paging.DashboardURL)
	if err != nil {
		errs = append(errs, fmt.Errorf("paging.dashboard_url: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &PagerDuty{
		mapper: mapper{cfg: opts.Paging, dashboard: dashboard},
		log:    opts.Logger, clock: opts.Clock, backoff: opts.Backoff, halt: make(chan struct{}),
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
			Help: "Events waiting for delivery to PagerDuty, including those being sent or retried.",
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
	pd := opts.Paging.PagerDuty
	p.client = newClient(httpClient, pd.URL, opts.RoutingKey, pd.Timeout, p.clock.Now)
	p.queue = newQueue(pd.QueueSize, p.lane, func(n int) { p.queueLength.Set(float64(n)) })
	kinds := incident.Kinds()
	if pd.ChangeEvents {
		kinds = append(kinds, incident.Change)
	}
	if err := p.register(opts.Registerer, kinds); err != nil {
		return nil, err
	}
	return p, nil
}

// register pre-creates the metrics' series of kinds and registers them
// with r.
func (p *PagerDuty) register(r prometheus.Registerer, kinds []incident.Kind) error {
	for _, k := range kinds {
		p.sent.WithLabelValues(k.String())
		p.failed.WithLabelValues(k.String())
	}
	if r == nil {
		return nil
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{p.sent, p.failed, p.queueLength} {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			return fmt.Errorf("register pager metrics: %w", err)
		}
		done = append(done, c)
	}
	return nil
}

// Notify turns an action into an event and queues it; it does not wait
// for delivery. A drift or blind notice (and the end of blindness) or a
// change is dropped (nil) when its option is off. A full queue is an
// error, counted in sentinel_pages_failed_total; so is ErrStopped, once
// Drain has stopped the pager.
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
			zap.Stringer("kind", e.kind), zap.String("workload", a.Workload.String()))
		return nil
	}
	if err := p.queue.push(e); err != nil {
		p.failed.WithLabelValues(e.kind.String()).Inc()
		if e.change != nil {
			return fmt.Errorf("queue pagerduty change event of %s: %w", a.Workload, err)
		}
		return fmt.Errorf("queue pagerduty %s event %s: %w", e.kind, e.event.DedupKey, err)
	}
	return nil
}

// Run delivers queued events until ctx ends (or Drain is called), then
// returns nil. What is still queued then stays queued, and Notify keeps
// queueing: Drain delivers it. Run may be called once; after Drain it
// returns ErrStopped.
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
	p.queue.start(ctx)
	select {
	case <-p.halt:
		cancel()
	case <-ctx.Done():
	}
	p.queue.stop()
	return nil
}

// Drain stops the pager: it stops Run if Run is still going and waits for
// it to return, delivers what is queued until the queue is empty or ctx
// ends, and then refuses further events (Notify returns ErrStopped).
// Events still queued then, including ones being retried, are not
// delivered: one log line reports how many, they are counted in
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
	p.queue.start(ctx)
	p.queue.wait()
	if left := p.report(p.queue.close()); left > 0 {
		return fmt.Errorf("pagerduty: %d events undelivered: %w", left, context.Cause(ctx))
	}
	return nil
}

// report logs and counts the events left undelivered, and returns how
// many there were.
func (p *PagerDuty) report(left []queuedEvent) int {
	if len(left) == 0 {
		return 0
	}
	byKind := map[string]int{}
	for _, e := range left {
		byKind[e.kind.String()]++
		p.failed.WithLabelValues(e.kind.String()).Inc()
	}
	p.log.Warn("pagerduty delivery stopped with undelivered events",
		zap.Int("undelivered", len(left)), zap.Any("by_kind", byKind),
		zap.String("oldest_dedup_key", left[0].event.DedupKey))
	return len(left)
}
