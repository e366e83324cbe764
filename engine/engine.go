// Package engine runs one poll of sentinel: it asks the metrics source for
// every workload's rates, lets the detector judge them, links each new
// incident to the change behind it, decides on rollback, carries the
// rollback out and reports every action. The daemon calls Poll on a
// ticker and `sentinel simulate` calls it on the recording's clock: the
// decisions are the same code.
package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/guard"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/source"
)

// Source answers each workload's request and failure rates over the rate
// window ending at a time. A workload without data is left out; an
// answer that cannot be trusted is an error.
type Source interface {
	Observe(ctx context.Context, at time.Time) ([]detector.Observation, error)
}

// ErrNoData is wrapped by a Source's error when the backend had no values
// at all ("no values found"): every workload is unknown for that poll,
// never healthy and never failing, but the source did answer.
var ErrNoData = source.ErrNoData

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

	mu       sync.Mutex
	detector *detector.Detector
	evidence *evidence.Tracker
	history  *history.Tracker
	policy   *rollback.Policy
	stats    Stats
	// open incidents, and whether this replica announced them (paged and
	// decided): a standby evaluates but stays silent until it leads.
	open      map[detector.Workload]*openIncident
	blindness blindness
	pending   []incident.Action // told outside a poll, sent with the next
	notifyErr error             // the first notifier error
	lastPoll  time.Time
	served    map[detector.Workload]history.Served // scratch, reused by every poll
	// resolves seen while standing by, sent on taking over
	quietResolves []incident.Action
	inFlight      sync.WaitGroup // rollbacks and verifications in the background
	clock         clock.Clock    // paces rollback retries
	background    bool           // rollbacks run off the poll loop
	// revisionsTold: the first answer was checked for revision labels.
	revisionsTold bool
	completed     time.Time // the instant of the last poll completed
}

// quietResolveHorizon bounds how old a resolve seen while standing by may
// be and still be sent on taking over: longer than any lease takeover.
const quietResolveHorizon = 5 * time.Minute

type openIncident struct {
	firing    detector.Finding
	announced bool
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

// WithActive makes the engine act (notify, roll back) only while active
// reports true — the leader — while still evaluating every poll, so a
// standby that takes over knows every open incident and announces those
// it has not announced itself. Pages are idempotent per incident (a
// stable dedup key) and rollbacks per incident (the Deployment's
// annotations), so the takeover pages and rolls back at most once.
func WithActive(active func() bool) Option {
	return func(e *Engine) { e.active = active }
}

// Stats counts what the engine has done. Incidents counts incidents
// opened (by every replica, leader or not; a reopened one is not new);
// Pages counts the pages this replica announced.
type Stats struct {
	Polls, SourceErrors, Incidents, Pages, Resolves, Rollbacks, RollbackErrors, NotifyErrors int
	Refused                                                                                  map[rollback.Reason]int
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
		stats:     Stats{Refused: map[rollback.Reason]int{}},
		open:      map[detector.Workload]*openIncident{},
		served:    map[detector.Workload]history.Served{},
		clock:     clock.RealClock{},
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
	if prev, ok := e.history.Deployment(detector.Workload{Namespace: d.Namespace, Name: d.Name}); ok {
		reason = prev.Annotations[guard.BreakGlassAnnotation]
	}
	c, ok := e.history.ObserveDeployment(d, at)
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
	if n, ok := guard.BreakGlassNotice(reason, d, c, at); ok {
		e.pending = append(e.pending, n) // instead of a drift notice
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
	w := detector.Workload{Namespace: namespace, Name: name}
	e.history.DeleteDeployment(namespace, name)
	e.metrics.workloads.Set(float64(e.history.Len()))
	e.detector.Forget(w)
	e.evidence.Forget(w)
	e.policy.Forget(w)
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

// Stats returns a copy of the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Refused = make(map[rollback.Reason]int, len(e.stats.Refused))
	for k, v := range e.stats.Refused {
		s.Refused[k] = v
	}
	return s
}

// Run polls until ctx ends. Polls fall on multiples of the poll interval
// and are evaluated at that instant, asked metrics.query_delay after it
// so the instant's samples have landed: replicas (and replays) of the
// same data agree on onsets, and with them on incident ids.
func (e *Engine) Run(ctx context.Context, clk clock.Clock) error {
	// Rollbacks and verifications in flight end with ctx; wait for them.
	defer e.inFlight.Wait()
	step := e.cfg.Detection.PollInterval
	for {
		now := clk.Now()
		next := PollAt(now, step)
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(next.Sub(now) + e.cfg.Metrics.QueryDelay):
		}
		if err := e.Poll(ctx, next); err != nil {
			e.log.Warn("poll without metrics: every workload unknown", zap.Error(err))
		}
	}
}

// PollAt returns the first poll instant at or after t: a multiple of step
// since the Unix epoch (time.Truncate counts from year 1, which agrees
// only for steps dividing a day). The daemon and replays poll on it.
func PollAt(t time.Time, step time.Duration) time.Time {
	n, s := t.UnixNano(), step.Nanoseconds()
	return time.Unix(0, (n+s-1)/s*s).UTC()
}

// Poll evaluates every workload at now. A source error makes every
// workload unknown for this poll (never healthy, never failing) and is
// returned after the evaluation.
//
// Deciding happens under the engine's lock; paging and writing to the
// cluster happen outside it, so informer events keep flowing while a
// rollback is written, and its verification runs in the background.
func (e *Engine) Poll(ctx context.Context, now time.Time) error {
	obs, srcErr := e.source.Observe(ctx, now)
	if srcErr != nil {
		obs = nil
		srcErr = fmt.Errorf("observe metrics at %s: %w", now.UTC().Format(time.RFC3339), srcErr)
	}
	defer func() {
		e.mu.Lock()
		e.completed = now
		e.mu.Unlock()
	}()
	for _, st := range e.evaluate(now, obs, srcErr) {
		e.notify(ctx, st.action)
		switch {
		case st.plan == nil:
		case e.background: // a page, then its rollback
			e.inFlight.Add(1)
			go func() {
				defer e.inFlight.Done()
				e.rollback(ctx, now, st.action, st.plan)
			}()
		default:
			e.rollback(ctx, now, st.action, st.plan)
		}
	}
	return srcErr
}

// step is something to tell, and for a page with a plan, to do.
type step struct {
	action incident.Action
	plan   *rollback.Plan
}

// evaluate judges the poll and decides, under the lock, returning what to
// report and do, in order.
func (e *Engine) evaluate(now time.Time, obs []detector.Observation, srcErr error) []step {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.Polls++
	e.metrics.polls.Inc()
	e.lastPoll = now
	active := e.active()
	var steps []step
	tell := func(a incident.Action) { steps = append(steps, step{action: a}) }
	// A resolve is sent by the leader. A standby keeps it: if the leader
	// died first, the standby sends it when it takes over (a leader that
	// paged and died leaves its incident open otherwise).
	resolve := func(a incident.Action) {
		if active {
			tell(a)
		} else {
			e.quietResolves = append(e.quietResolves, a)
		}
	}

	pending := e.pending
	e.pending = nil
	for _, a := range pending {
		switch {
		case a.Kind == incident.Resolve:
			resolve(a)
		case active:
			tell(a)
		}
	}
	if a, ok := e.sourceHealth(now, srcErr, active); ok {
		tell(a)
	}

	e.tellRevisions(obs)
	judged := e.evidence.Poll(now, obs, e.history)
	e.recordHealth(now, judged)
	for _, f := range e.detector.Evaluate(now, judged) {
		switch f.Kind {
		case detector.Firing:
			if !f.Reopened {
				e.stats.Incidents++
				e.metrics.incidentsTotal.Inc()
			}
			e.open[f.Workload] = &openIncident{firing: f}
		case detector.Resolved:
			delete(e.open, f.Workload)
			e.stats.Resolves++
			resolve(e.action(incident.Resolve, f))
		}
	}
	if active {
		// Resolves of incidents that ended while this replica stood by,
		// recent enough that a leader which died may not have sent them.
		// Resolving twice is harmless: the dedup key makes it a no-op.
		for _, a := range e.quietResolves {
			if now.Sub(a.At) <= quietResolveHorizon {
				tell(a)
			}
		}
		e.quietResolves = nil
		// New incidents, and those a previous leader may have left
		// unannounced, in workload order.
		for _, w := range e.unannounced() {
			oi := e.open[w]
			oi.announced = true
			steps = append(steps, e.decide(oi.firing, now))
		}
	} else {
		e.quietResolves = slices.DeleteFunc(e.quietResolves, func(a incident.Action) bool {
			return now.Sub(a.At) > quietResolveHorizon
		})
	}
	e.metrics.incidentsOpen.Set(float64(len(e.open)))
	return steps
}

// tellRevisions says once, at the first answer, whether the metrics split
// workloads by revision: without it a bad rollout is judged only once the
// workload as a whole fails.
func (e *Engine) tellRevisions(obs []detector.Observation) {
	if e.revisionsTold || len(obs) == 0 {
		return
	}
	e.revisionsTold = true
	for _, o := range obs {
		if len(o.Revisions) > 0 {
			e.log.Info("the metrics say which revision's pods served: judging revisions by their own pods")
			return
		}
	}
	e.log.Warn("the metrics carry no revision or pod label (metrics.prometheus.revision_label, pod_label): " +
		"judging every workload as a whole; see docs/metrics.md#revisions")
}

// recordHealth records how every workload's templates served this poll:
// per revision, by each revision's own pods, where the metrics say which
// pods served; else the workload as a whole (for its current template,
// once rolled out).
func (e *Engine) recordHealth(now time.Time, judged []detector.Observation) {
	served := e.served
	clear(served)
	for _, o := range judged {
		ev, ok := e.evidence.Evidence(o.Workload)
		if !ok || len(ev.Revisions) == 0 {
			served[o.Workload] = e.evidence.Served(o.Requests, o.Failures)
			continue
		}
		served[o.Workload] = history.ServedUnknown // the current template's pods did not serve
		for _, r := range ev.Revisions {
			e.history.RecordRevisionHealth(now, o.Workload, r.Name, e.evidence.Served(r.Requests, r.Failures))
			if r.Current {
				served[o.Workload] = history.ServedElsewhere
			}
		}
	}
	e.history.RecordHealth(now, func(w detector.Workload) history.Served { return served[w] })
}

func (e *Engine) unannounced() []detector.Workload {
	var ws []detector.Workload
	for w, oi := range e.open {
		if !oi.announced {
			ws = append(ws, w)
		}
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].String() < ws[j].String() })
	return ws
}

// sourceHealth feeds the poll's answer to the blindness tracker and
// turns its steps into metrics, logs and notices. The blind notice and its
// resolve carry no workload and no incident, and share the first
// unanswered poll as their onset; a replica that takes over while blind
// sends the notice too.
func (e *Engine) sourceHealth(now time.Time, err error, active bool) (incident.Action, bool) {
	notify := active && e.cfg.Paging.PagerDuty.PageWhenBlind
	b := &e.blindness
	answered := err == nil || errors.Is(err, ErrNoData)
	step := b.poll(now, answered)
	if answered {
		e.metrics.sourceUp.Set(1)
		e.metrics.lastPoll.Set(float64(now.Unix()))
	} else {
		e.stats.SourceErrors++
		e.metrics.sourceUp.Set(0)
	}
	switch step {
	case blindEnded:
		e.log.Info("metrics source answers again: no longer blind")
		e.metrics.blind.Set(0)
		if b.resolve() && notify {
			return incident.Action{At: now, Kind: incident.Sighted, Onset: b.since,
				Message: "the metrics source answers again"}, true
		}
		return incident.Action{}, false
	case blindBecame:
		e.metrics.blind.Set(1)
		e.log.Error("blind: the metrics source has not answered; no workload can be judged",
			zap.Int("polls", b.down), zap.Error(err))
	}
	if !notify || !b.tell() {
		return incident.Action{}, false
	}
	return incident.Action{At: now, Kind: incident.Blind, Onset: b.since,
		Message: fmt.Sprintf("blind: the metrics source has not answered for %d polls: %v", b.down, err)}, true
}

func (e *Engine) action(k incident.Kind, f detector.Finding) incident.Action {
	return incident.Action{
		At: f.At, Kind: k, Workload: f.Workload, Incident: detector.IncidentID(f.Workload, f.Onset),
		Onset: f.Onset, Ratio: f.Ratio, Requests: f.Requests,
		FailureCodes: e.cfg.Detection.FailureCodes, RunbookURL: e.cfg.Paging.RunbookURL,
	}
}

// decide builds an incident's page and rollback decision. now is the poll
// at which it is announced: the firing poll, or a later one when this
// replica has just become leader. Called with the lock held.
func (e *Engine) decide(f detector.Finding, now time.Time) step {
	page := e.action(incident.Page, f)
	page.At = now
	e.stats.Pages++
	in := rollback.Input{Incident: page.Incident, Workload: f.Workload, Revisions: e.history.Revisions(f.Workload)}
	ev, _ := e.evidence.Evidence(f.Workload)
	began := ev.Began
	if began.IsZero() || began.After(f.Onset) {
		began = f.Onset
	}
	blame := evidence.BlameChange(ev, f.Onset,
		e.history.Changes(f.Workload, began.Add(-e.cfg.Detection.LinkWindow), now))
	in.Cause, page.Cause = blame.Cause, blame.Cause
	page.Evidence = incident.NewEvidence(f, ev, blame)
	if d, ok := e.history.Deployment(f.Workload); ok {
		in.Deployment = &d
		if _, err := config.OptedOut(d.Annotations); err != nil {
			e.log.Error("unreadable opt-out annotation", zap.String("workload", f.Workload.String()), zap.Error(err))
		}
	}
	dec := e.policy.Decide(now, in)
	page.Decision = dec
	if !dec.Rollback {
		e.stats.Refused[dec.Reason]++
		e.metrics.refused.WithLabelValues(string(dec.Reason)).Inc()
		return step{action: page}
	}
	return step{action: page, plan: dec.Plan}
}

// rollback carries out a plan, outside the lock, and reports the outcome.
func (e *Engine) rollback(ctx context.Context, now time.Time, page incident.Action, plan *rollback.Plan) {
	err := e.attempt(ctx, plan)
	var stale *rollback.StaleError
	e.mu.Lock()
	switch {
	case err == nil:
		e.policy.Done(now, plan)
		e.stats.Rollbacks++
		if plan.DryRun {
			e.metrics.rollbacks.WithLabelValues(resultDryRun).Inc()
		} else {
			e.metrics.rollbacks.WithLabelValues(resultDone).Inc()
		}
	case errors.As(err, &stale):
		e.metrics.rollbacks.WithLabelValues(resultSkipped).Inc()
	default:
		e.stats.RollbackErrors++
		e.metrics.rollbacks.WithLabelValues(resultFailed).Inc()
	}
	e.mu.Unlock()

	if err != nil {
		e.log.Error("rollback not done", zap.String("workload", page.Workload.String()),
			zap.String("incident", page.Incident), zap.Error(err))
		e.notify(ctx, e.notice(incident.RollbackFailed, page, plan, fmt.Sprintf("rollback to revision %d not done: %v", plan.ToRevision, err)))
		return
	}
	rb := page
	rb.Kind = incident.Rollback
	rb.Plan = plan
	e.notify(ctx, rb)
	if !plan.DryRun {
		e.inFlight.Add(1)
		go func() {
			defer e.inFlight.Done()
			if err := e.executor.Verify(ctx, plan); err != nil && ctx.Err() == nil {
				e.metrics.rollbacks.WithLabelValues(resultUnverified).Inc()
				e.log.Error("rollback unverified", zap.String("workload", page.Workload.String()), zap.Error(err))
				e.notify(ctx, e.notice(incident.RollbackUnverified, page, plan, fmt.Sprintf("rollback to revision %d written but not verified: %v", plan.ToRevision, err)))
			}
		}()
	}
}

// attempt runs the executor until the rollback is done, refused, or
// failed for good. Every attempt is bounded by kubernetes.request_timeout
// and re-decides on a fresh read of the Deployment (the executor's
// Recheck); one that failed for a reason that may pass is retried with
// backoff until kubernetes.rollback_timeout.
func (e *Engine) attempt(ctx context.Context, plan *rollback.Plan) error {
	k := e.cfg.Kubernetes
	deadline := e.clock.Now().Add(k.RollbackTimeout)
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: 30 * time.Second}
	for n := 1; ; n++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if k.RequestTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, k.RequestTimeout)
		}
		err := e.executor.Rollback(actx, plan)
		cancel()
		var retry *rollback.RetryableError
		if err == nil || !errors.As(err, &retry) || ctx.Err() != nil {
			return err
		}
		pause := backoff.Step()
		if e.clock.Now().Add(pause).After(deadline) {
			return fmt.Errorf("gave up after %d attempts in %s: %w", n, k.RollbackTimeout, err)
		}
		e.log.Warn("rollback attempt failed; retrying", zap.String("workload", plan.Workload.String()),
			zap.Int("attempt", n), zap.Duration("in", pause), zap.Error(err))
		select {
		case <-ctx.Done():
			return err
		case <-e.clock.After(pause):
		}
	}
}

func (e *Engine) notice(k incident.Kind, page incident.Action, plan *rollback.Plan, msg string) incident.Action {
	n := page
	n.Kind = k
	n.Plan = plan
	n.Message = msg
	return n
}

// notify reports an action; called without the lock.
func (e *Engine) notify(ctx context.Context, a incident.Action) {
	if err := e.notifier.Notify(ctx, a); err != nil {
		e.mu.Lock()
		e.stats.NotifyErrors++
		if e.notifyErr == nil {
			e.notifyErr = err
		}
		e.mu.Unlock()
		e.log.Error("notify failed", zap.Stringer("action", a.Kind),
			zap.String("incident", a.Incident), zap.Error(err))
	}
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
