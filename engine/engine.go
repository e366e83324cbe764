// Package engine runs sentinel's poll: metrics source → evidence →
// detector → blame → rollback decision → rollback → notifier. The daemon
// polls on a ticker and the replays on the recording's clock, through the
// same code. How a poll runs: docs/engine.md.
package engine

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/guard"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// Source answers each workload's request and failure rates over the rate
// window ending at a time. A workload without data is left out; an
// answer that cannot be trusted is an error.
type Source interface {
	Observe(ctx context.Context, at time.Time) ([]detector.Observation, error)
}

// Executor carries out a rollback plan. Rollback returns a
// *rollback.StaleError when the plan no longer holds (a refusal, not a
// failure); Verify confirms a written rollback rolled out, and is not
// called in dry-run mode.
type Executor interface {
	Rollback(ctx context.Context, plan *rollback.Plan) error
	Verify(ctx context.Context, plan *rollback.Plan) error
}

// Notifier reports an action (pages it, prints it, records it).
type Notifier interface {
	Notify(ctx context.Context, a incident.Action) error
}

// Engine ties the detector, the change history and the rollback policy
// together. Object observations and polls may come from different
// goroutines; the engine serialises them.
type Engine struct {
	cfg      config.Config
	source   Source
	executor Executor
	notifier Notifier
	log      *zap.Logger

	metrics *metrics
	active  func() bool
	paging  func() bool // WithPaging; nil: pages only while active

	pollHook func(PollRecord) // WithPollHook; nil: none

	mu       sync.Mutex
	detector *detector.Detector
	evidence *evidence.Tracker
	history  *history.Tracker
	policy   *rollback.Policy
	// open incidents: a standby evaluates them but announces them only
	// once it pages.
	open      map[workload.Ref]*openIncident
	blindness blindness
	pending   []incident.Action // told outside a poll, sent with the next
	notifyErr error             // the first notifier error
	lastPoll  time.Time
	served    map[workload.Ref]history.Served // scratch, reused by every poll
	// resolves seen at polls that did not page, sent on taking over
	quietResolves []incident.Action
	inFlight      sync.WaitGroup // rollbacks and verifications in the background
	clock         clock.Clock    // paces rollback retries
	background    bool           // rollbacks run off the poll loop
	// revisionsTold: the first answer was checked for revision labels.
	revisionsTold bool
	// noData: Run's last answered poll had no data (tellPoll).
	noData    bool
	completed time.Time // the instant of the last poll completed
	// warming: a warm-up replays history (see WarmUp, pollMode).
	warming bool
	// replayed is the last instant a warm-up that did not give up
	// replayed: the live polls go on from it (see Run).
	replayed time.Time
	// settleLater: the warm-up gave up on a down source before it could
	// settle the incidents of Deployments deleted before the start; the
	// first live poll answered does (settleGone).
	settleLater bool
	// began is when each workload's last incident's errors began, as its
	// first page found them, kept after it resolves: a page decided again
	// (reopened, looked back, taken over) is blamed against the same
	// instant.
	began map[workload.Ref]incidentBegan
	// deleted Deployments: their metrics linger in the rate window, and
	// their terminating pods may serve a while, and must not open an
	// incident (see withoutDeleted).
	deleted map[workload.Ref]deletion
}

// incidentBegan is when the errors of the incident with this onset began.
type incidentBegan struct{ onset, began time.Time }

// deletion is a deleted Deployment whose metrics may linger: deleted at
// the poll at, last reported by the source at the poll reported.
type deletion struct{ at, reported time.Time }

// quietResolveHorizon bounds how old a resolve seen while standing by may
// be and still be sent on taking over: longer than any lease takeover.
const quietResolveHorizon = 5 * time.Minute

// openIncident is an incident firing now, as this replica knows it.
type openIncident struct {
	firing detector.Finding
	state  announcement // where its announcement by this replica stands
	// unsent are the incident's actions the notifier had no room for
	// (incident.ErrNoRoom), and those told after them, sent again in order
	// by the next poll that pages.
	unsent []incident.Action
	// lookedBack: a look back for a rollback target was started for it
	// (once per incident).
	lookedBack bool
}

// Option adjusts an engine.
type Option func(*Engine)

// WithMetrics registers the engine's metrics with reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(e *Engine) { e.metrics = newMetrics(reg) }
}

// WithClock paces rollback retries on c (default: the real clock).
func WithClock(c clock.Clock) Option { return func(e *Engine) { e.clock = c } }

// WithBackgroundRollbacks carries rollbacks out off the poll loop, so a
// slow or unreachable API server never holds up detection and paging of
// other workloads (the daemon). Without it a poll returns once its
// rollbacks are done (replays, whose order is their output).
func WithBackgroundRollbacks() Option { return func(e *Engine) { e.background = true } }

// WithPaging lets a replica that is not active page and resolve while
// paging reports true — no replica is seen holding the Lease — so paging
// never depends on the control plane. Rollbacks still need active: a page
// sent without it says so, and is decided again once this replica leads
// (docs/engine.md#announcing).
func WithPaging(paging func() bool) Option {
	return func(e *Engine) { e.paging = paging }
}

// WithActive makes the engine act (notify, roll back) only while active
// reports true — the leader — while still evaluating every poll, so a
// replica that takes over announces the open incidents it has not. Pages
// (a stable dedup key) and rollbacks (the Deployment's annotations) are
// idempotent per incident, so a takeover repeats neither.
func WithActive(active func() bool) Option {
	return func(e *Engine) { e.active = active }
}

// New returns an engine. cfg must be valid (config.Validate).
func New(cfg config.Config, source Source, executor Executor, notifier Notifier, log *zap.Logger, opts ...Option) *Engine {
	d := cfg.Detection
	e := &Engine{
		cfg: cfg, source: source, executor: executor, notifier: notifier, log: log,
		active: func() bool { return true },
		detector: detector.New(detector.Rule{Threshold: d.Threshold, For: d.For,
			MinRequestRate: d.MinRequestRate, ResolveAfter: d.ResolveAfter, ReopenWithin: d.ReopenWithin}),
		evidence: evidence.New(evidence.Options{Threshold: d.Threshold, MinRequestRate: d.MinRequestRate,
			HealthyMaxRatio: cfg.Rollback.Healthy.MaxErrorRatio, LinkWindow: d.LinkWindow}),
		history:   history.New(history.Options{HealthyFor: cfg.Rollback.Healthy.MinDuration}),
		policy:    rollback.NewPolicy(cfg.Rollback),
		blindness: blindness{after: cfg.Metrics.BlindAfter},
		open:      map[workload.Ref]*openIncident{},
		served:    map[workload.Ref]history.Served{},
		clock:     clock.RealClock{},
		deleted:   map[workload.Ref]deletion{},
		began:     map[workload.Ref]incidentBegan{},
	}
	for _, o := range opts {
		o(e)
	}
	if e.metrics == nil {
		e.metrics = newMetrics(nil)
	}
	return e
}

// ObserveDeployment feeds a Deployment observed at at.
func (e *Engine) ObserveDeployment(d *appsv1.Deployment, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var reason string // the break-glass reason seen until now
	if prev, ok := e.history.Deployment(workload.Ref{Namespace: d.Namespace, Name: d.Name}); ok {
		reason = prev.Annotations[guard.BreakGlassAnnotation]
	}
	c, ok := e.history.ObserveDeployment(d, at)
	delete(e.deleted, workload.Ref{Namespace: d.Namespace, Name: d.Name}) // (re)created
	e.metrics.workloads.Set(float64(e.history.Len()))
	if !ok {
		return
	}
	if c.Manager != rollback.FieldManager {
		e.detector.EndReopen(c.Workload) // a new change: a new failure is a new incident
	}
	e.log.Info("template changed", zap.String("workload", c.Workload.String()),
		zap.Int64("revision", c.Revision), zap.String("manager", c.Manager),
		zap.Bool("image_changed", c.ImageChanged), zap.Strings("fields", c.Fields))
	e.revertedRollback(d, c, at)
	bg, brokeGlass := guard.BrokeGlass(reason, d, c)
	if e.cfg.Paging.PagerDuty.ChangeEvents && c.ImageChanged && c.Manager != rollback.FieldManager {
		// sentinel's own rollbacks are told as they are written (rollback).
		e.pending = append(e.pending, incident.ChangeOf(at, c, bg.By, e.cfg.Paging.RunbookURL))
	}
	if brokeGlass {
		e.pending = append(e.pending, incident.BreakGlassNotice(at, c, bg.Reason, bg.By)) // instead of a drift notice
		return
	}
	if e.cfg.Paging.PagerDuty.DriftNotices && c.ImageChanged && c.Manager != rollback.FieldManager &&
		!e.cfg.Rollback.Trusted(c.Manager) {
		// Sent with the next poll, which carries a context.
		e.pending = append(e.pending, incident.Action{At: at, Kind: incident.Drift, Workload: c.Workload, Cause: &c})
	}
}

// ObserveReplicaSet feeds a ReplicaSet.
func (e *Engine) ObserveReplicaSet(rs *appsv1.ReplicaSet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.history.ObserveReplicaSet(rs)
}

// DeleteDeployment forgets a Deployment: its history, its detector state
// and guard-rail memory. An open incident is resolved with the next poll,
// since no one will ever see its errors stop.
func (e *Engine) DeleteDeployment(namespace, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forget(workload.Ref{Namespace: namespace, Name: name})
}

// forget is DeleteDeployment with the lock held.
func (e *Engine) forget(w workload.Ref) {
	e.history.DeleteDeployment(w.Namespace, w.Name)
	e.metrics.workloads.Set(float64(e.history.Len()))
	e.detector.Forget(w)
	e.evidence.Forget(w)
	e.policy.Forget(w)
	delete(e.began, w)
	e.deleted[w] = deletion{at: e.lastPoll, reported: e.lastPoll}
	if oi, ok := e.open[w]; ok {
		delete(e.open, w)
		a := e.action(incident.Resolve, oi.firing)
		a.At = e.lastPoll
		a.Message = "the Deployment was deleted"
		e.pending = append(e.pending, a)
	}
}

// DeleteReplicaSet forgets a ReplicaSet of the Deployment owner.
func (e *Engine) DeleteReplicaSet(namespace, name, owner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.history.DeleteReplicaSet(namespace, name, owner)
}

// Run polls until ctx ends. Polls fall on multiples of the poll interval
// and are evaluated at that instant, asked metrics.query_delay after it
// so the instant's samples have landed: replicas (and replays) of the
// same data agree on onsets, and with them on incident ids. After a
// warm-up the polls go on from its last instant (see maxCatchUp).
func (e *Engine) Run(ctx context.Context, clk clock.Clock) error {
	// Rollbacks and verifications in flight end with ctx; wait for them.
	defer e.inFlight.Wait()
	step := e.cfg.Detection.PollInterval
	last := e.resumeFrom(clk.Now())
	for {
		now := clk.Now()
		next := PollAt(now, step)
		// A poll that ran into the next one's slot (a slow source) does
		// not skip it: the next instant is polled at once, late. The
		// source answers for past instants.
		if !last.IsZero() && last.Add(step).Before(next) {
			next = last.Add(step)
		}
		if !sleep(ctx, clk, next.Sub(now)+e.cfg.Metrics.QueryDelay) {
			return nil
		}
		e.tellPoll(e.Poll(ctx, next))
		last = next
	}
}

// sleep waits d on clk, not at all when d is not positive (an instant
// caught up on); false when ctx ended first.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-clk.After(d):
		return true
	}
}

// maxCatchUp bounds how many poll instants the first live polls catch up
// on after a warm-up: the instants that passed while it replayed (a few
// at most), polled at once rather than waiting for the next slot, so a
// replica is ready, and an incident that began meanwhile is paged,
// without a poll interval's wait; a warm-up that took longer (a slow
// source) leaves the older ones out, as detecting what fails now comes
// first.
const maxCatchUp = 4

// resumeFrom is the instant the live polls go on from: the last one the
// warm-up replayed, or the one that leaves maxCatchUp instants up to now
// to catch up on; zero starts at the next poll instant.
func (e *Engine) resumeFrom(now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.replayed.IsZero() {
		return time.Time{}
	}
	step := e.cfg.Detection.PollInterval
	passed := PollAt(now, step) // the last instant at or before now
	if passed.After(now) {
		passed = passed.Add(-step)
	}
	if from := passed.Add(-maxCatchUp * step); from.After(e.replayed) {
		return from
	}
	return e.replayed
}

// PollAt returns the first poll instant at or after t: a multiple of step
// since the Unix epoch (time.Truncate counts from year 1, which agrees
// only for steps dividing a day). The daemon and replays poll on it.
func PollAt(t time.Time, step time.Duration) time.Time {
	n, s := t.UnixNano(), step.Nanoseconds()
	return time.Unix(0, (n+s-1)/s*s).UTC()
}

// LastPoll returns the instant of the last poll completed (zero before the
// first): a liveness signal, since a poll stuck on a dependency never
// completes.
func (e *Engine) LastPoll() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.completed
}

// NotifyErr returns the first error a notifier returned, if any; a replay
// stops on it (its output is the point).
func (e *Engine) NotifyErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.notifyErr
}
