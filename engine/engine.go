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
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
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

// Executor carries out a rollback plan.
type Executor interface {
	Rollback(ctx context.Context, plan *rollback.Plan) error
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

	pollHook func(PollRecord) // WithPollHook; nil: none

	mu       sync.Mutex
	detector *detector.Detector
	history  *history.Tracker
	policy   *rollback.Policy
	stats    Stats
	// open incidents, and whether this replica announced them (paged and
	// decided): a standby evaluates but stays silent until it leads.
	open       map[detector.Workload]*openIncident
	sourceDown int               // polls in a row without an answer
	downSince  time.Time         // the first of them
	blindTold  bool              // this replica sent the blind notice
	pending    []incident.Action // told outside a poll, sent with the next
	notifyErr  error             // the first notifier error
	lastPoll   time.Time
	healthy    map[detector.Workload]bool // scratch, reused by every poll
	// resolves seen while standing by, sent on taking over
	quietResolves []incident.Action
	verifying     sync.WaitGroup // background verifications of rollbacks
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

// WithActive makes the engine act (notify, roll back) only while active
// reports true — the leader — while still evaluating every poll, so a
// standby that takes over knows every open incident and announces those
// it has not announced itself. Pages are idempotent per incident (a
// stable dedup key) and rollbacks per incident (the Deployment's
// annotations), so the takeover pages and rolls back at most once.
func WithActive(active func() bool) Option {
	return func(e *Engine) { e.active = active }
}

// Stats counts what the engine has done.
type Stats struct {
	Polls, SourceErrors, Pages, Resolves, Rollbacks, RollbackErrors, NotifyErrors int
	Refused                                                                       map[rollback.Reason]int
}

// New returns an engine. cfg must be valid (config.Validate).
func New(cfg config.Config, source Source, executor Executor, notifier Notifier, log *zap.Logger, opts ...Option) *Engine {
	d := cfg.Detection
	e := &Engine{
		cfg: cfg, source: source, executor: executor, notifier: notifier, log: log,
		active: func() bool { return true },
		detector: detector.New(detector.Rule{Threshold: d.Threshold, For: d.For,
			MinRequestRate: d.MinRequestRate, ResolveAfter: d.ResolveAfter}),
		history: history.New(history.Options{HealthyFor: cfg.Rollback.Healthy.MinDuration}),
		policy:  rollback.NewPolicy(cfg.Rollback),
		stats:   Stats{Refused: map[rollback.Reason]int{}},
		open:    map[detector.Workload]*openIncident{},
		healthy: map[detector.Workload]bool{},
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
	c, ok := e.history.ObserveDeployment(d, at)
	e.metrics.workloads.Set(float64(e.history.Len()))
	if !ok {
		return
	}
	e.log.Info("template changed", zap.String("workload", c.Workload.String()),
		zap.Int64("revision", c.Revision), zap.String("manager", c.Manager),
		zap.Bool("image_changed", c.ImageChanged), zap.Strings("fields", c.Fields))
	if e.cfg.Paging.PagerDuty.DriftNotices && c.ImageChanged && c.Manager != rollback.FieldManager &&
		!e.cfg.Rollback.Trusted(c.Manager) {
		// Sent with the next poll, which carries a context.
		e.pending = append(e.pending, incident.Action{At: at, Kind: incident.Notice, Workload: c.Workload, Cause: &c,
			Message: fmt.Sprintf("drift: image changed outside the trusted deployers by %s to %s",
				managerOrUnknown(c.Manager), incident.ShortImages(c.ImagesAfter))})
	}
}

func managerOrUnknown(m string) string {
	if m == "" {
		return "an unknown manager"
	}
	return m
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
	// Verifications in flight end with ctx; wait for them before returning.
	defer e.verifying.Wait()
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
	steps := e.evaluate(now, obs, srcErr)
	e.tellHook(now, obs, srcErr)
	for _, st := range steps {
		e.notify(ctx, st.action)
		if st.plan != nil { // a page, then its rollback
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

	rule := e.detector.Rule()
	healthy := e.healthy
	clear(healthy)
	for _, o := range obs {
		if rule.Judge(o) != detector.Unknown && o.Ratio() <= e.cfg.Rollback.Healthy.MaxErrorRatio {
			healthy[o.Workload] = true
		}
	}
	e.history.RecordHealth(now, func(w detector.Workload) bool { return healthy[w] })

	for _, f := range e.detector.Evaluate(now, obs) {
		switch f.Kind {
		case detector.Firing:
			e.stats.Pages++
			e.metrics.incidentsTotal.Inc()
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

// sourceHealth tracks whether the metrics source answers; after
// metrics.blind_after polls without an answer sentinel is blind. An empty
// answer (ErrNoData) is an answer: every workload is unknown, but the
// source is not down. The blind notice and its resolve carry no workload
// and no incident, and share the first unanswered poll as their onset; a
// replica that takes over while blind sends the notice too.
func (e *Engine) sourceHealth(now time.Time, err error, active bool) (incident.Action, bool) {
	notify := active && e.cfg.Paging.PagerDuty.PageWhenBlind
	if err == nil || errors.Is(err, ErrNoData) {
		e.metrics.sourceUp.Set(1)
		e.metrics.lastPoll.Set(float64(now.Unix()))
		wasBlind, told := e.sourceDown >= e.cfg.Metrics.BlindAfter, e.blindTold
		e.sourceDown, e.blindTold = 0, false
		if !wasBlind {
			return incident.Action{}, false
		}
		e.log.Info("metrics source answers again: no longer blind")
		e.metrics.blind.Set(0)
		if told && notify {
			return incident.Action{At: now, Kind: incident.Resolve, Onset: e.downSince,
				Message: "the metrics source answers again"}, true
		}
		return incident.Action{}, false
	}
	e.stats.SourceErrors++
	e.metrics.sourceUp.Set(0)
	if e.sourceDown == 0 {
		e.downSince = now
	}
	e.sourceDown++
	if e.sourceDown < e.cfg.Metrics.BlindAfter {
		return incident.Action{}, false
	}
	if e.sourceDown == e.cfg.Metrics.BlindAfter {
		e.metrics.blind.Set(1)
		e.log.Error("blind: the metrics source has not answered; no workload can be judged",
			zap.Int("polls", e.sourceDown), zap.Error(err))
	}
	if !notify || e.blindTold {
		return incident.Action{}, false
	}
	e.blindTold = true
	return incident.Action{At: now, Kind: incident.Notice, Onset: e.downSince,
		Message: fmt.Sprintf("blind: the metrics source has not answered for %d polls: %v", e.sourceDown, err)}, true
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
	in := rollback.Input{Incident: page.Incident, Workload: f.Workload, Revisions: e.history.Revisions(f.Workload)}
	if c, ok := e.history.Cause(f.Workload, f.Onset, e.cfg.Detection.LinkWindow); ok {
		in.Cause = &c
		page.Cause = &c
	}
	if d, ok := e.history.Deployment(f.Workload); ok {
		in.Deployment = &d
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

// precondition marks an executor error that says the rollback was not
// written because the Deployment no longer is what the decision saw: a
// refusal, not a failure.
type precondition interface{ Precondition() bool }

// verifier is an executor that can confirm a written rollback rolled out.
type verifier interface {
	Verify(ctx context.Context, plan *rollback.Plan) error
}

// rollback carries out a plan, outside the lock, and reports the outcome.
func (e *Engine) rollback(ctx context.Context, now time.Time, page incident.Action, plan *rollback.Plan) {
	err := e.executor.Rollback(ctx, plan)
	var pre precondition
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
	case errors.As(err, &pre) && pre.Precondition():
		e.metrics.rollbacks.WithLabelValues(resultSkipped).Inc()
	default:
		e.stats.RollbackErrors++
		e.metrics.rollbacks.WithLabelValues(resultFailed).Inc()
	}
	e.mu.Unlock()

	if err != nil {
		e.log.Error("rollback not done", zap.String("workload", page.Workload.String()),
			zap.String("incident", page.Incident), zap.Error(err))
		e.notify(ctx, e.notice(page, plan, fmt.Sprintf("rollback to revision %d not done: %v", plan.ToRevision, err)))
		return
	}
	rb := page
	rb.Kind = incident.Rollback
	rb.Plan = plan
	e.notify(ctx, rb)
	if v, ok := e.executor.(verifier); ok && !plan.DryRun {
		e.verifying.Add(1)
		go func() {
			defer e.verifying.Done()
			if err := v.Verify(ctx, plan); err != nil && ctx.Err() == nil {
				e.metrics.rollbacks.WithLabelValues(resultUnverified).Inc()
				e.log.Error("rollback unverified", zap.String("workload", page.Workload.String()), zap.Error(err))
				e.notify(ctx, e.notice(page, plan, fmt.Sprintf("rollback to revision %d written but not verified: %v", plan.ToRevision, err)))
			}
		}()
	}
}

func (e *Engine) notice(page incident.Action, plan *rollback.Plan, msg string) incident.Action {
	n := page
	n.Kind = incident.Notice
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
		e.log.Error("notify failed", zap.String("action", string(a.Kind)),
			zap.String("incident", a.Incident), zap.Error(err))
	}
}

// NotifyErr returns the first error a notifier returned, if any; a replay
// stops on it (its output is the point).
func (e *Engine) NotifyErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.notifyErr
}
