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
)

// Source answers each workload's request and failure rates over the rate
// window ending at a time. A workload without data is left out; an
// answer that cannot be trusted is an error.
type Source interface {
	Observe(ctx context.Context, at time.Time) ([]detector.Observation, error)
}

// ErrNoData is wrapped by a Source's error when the backend had no values
// at all ("no values found"): every workload is unknown for that poll,
// never healthy and never failing.
var ErrNoData = errors.New("no data")

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

	mu       sync.Mutex
	detector *detector.Detector
	history  *history.Tracker
	policy   *rollback.Policy
	stats    Stats
	// open incidents, and whether this replica announced them (paged and
	// decided): a standby evaluates but stays silent until it leads.
	open       map[detector.Workload]*openIncident
	sourceDown int                        // polls in a row without an answer
	downSince  time.Time                  // the first of them
	drift      []incident.Action          // drift notices waiting for the next poll
	healthy    map[detector.Workload]bool // scratch, reused by every poll
	// resolves seen while standing by, sent on taking over
	quietResolves []incident.Action
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
		e.drift = append(e.drift, incident.Action{At: at, Kind: incident.Notice, Workload: c.Workload, Cause: &c,
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

// DeleteDeployment forgets a Deployment.
func (e *Engine) DeleteDeployment(namespace, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.history.DeleteDeployment(namespace, name)
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
// and are evaluated at that instant, so replicas (and replays) of the same
// data agree on onsets, and with them on incident ids.
func (e *Engine) Run(ctx context.Context, clk clock.Clock) error {
	step := e.cfg.Detection.PollInterval
	for {
		now := clk.Now()
		// The next multiple of step since the Unix epoch (Truncate counts
		// from year 1, which only agrees for steps dividing a day).
		next := time.Unix(0, (now.UnixNano()/step.Nanoseconds()+1)*step.Nanoseconds()).UTC()
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(next.Sub(now)):
		}
		if err := e.Poll(ctx, next); err != nil {
			e.log.Warn("poll without metrics: every workload unknown", zap.Error(err))
		}
	}
}

// Poll evaluates every workload at now. A source error makes every
// workload unknown for this poll (never healthy, never failing) and is
// returned after the evaluation.
func (e *Engine) Poll(ctx context.Context, now time.Time) error {
	obs, srcErr := e.source.Observe(ctx, now)
	if srcErr != nil {
		obs = nil
		srcErr = fmt.Errorf("observe metrics at %s: %w", now.UTC().Format(time.RFC3339), srcErr)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.Polls++
	e.metrics.polls.Inc()
	active := e.active()
	drift := e.drift
	e.drift = nil
	if active {
		for _, a := range drift {
			e.notify(ctx, a)
		}
	}
	e.sourceHealth(ctx, now, srcErr, active)

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
			if active {
				// Also when this replica never announced it: a leader
				// that died after paging left it open.
				e.notify(ctx, e.action(incident.Resolve, f))
			} else {
				// The leader should resolve it; if it died first, this
				// replica resolves it when it takes over.
				e.quietResolves = append(e.quietResolves, e.action(incident.Resolve, f))
			}
		}
	}
	if active {
		// Resolves of incidents that ended while this replica stood by,
		// recent enough that a leader which died may not have sent them.
		// Resolving twice is harmless: the dedup key makes it a no-op.
		for _, a := range e.quietResolves {
			if now.Sub(a.At) <= quietResolveHorizon {
				e.notify(ctx, a)
			}
		}
		e.quietResolves = nil
	} else {
		e.quietResolves = slices.DeleteFunc(e.quietResolves, func(a incident.Action) bool {
			return now.Sub(a.At) > quietResolveHorizon
		})
	}
	if active {
		// New incidents, and those a previous leader may have left
		// unannounced, in workload order.
		for _, w := range e.unannounced() {
			oi := e.open[w]
			oi.announced = true
			e.fire(ctx, oi.firing, now)
		}
	}
	e.metrics.incidentsOpen.Set(float64(len(e.open)))
	return srcErr
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
// metrics.blind_after polls without an answer sentinel is blind. The blind
// notice and its resolve carry no workload and no incident, and share the
// first unanswered poll as their onset.
func (e *Engine) sourceHealth(ctx context.Context, now time.Time, err error, active bool) {
	if err == nil {
		e.metrics.sourceUp.Set(1)
		e.metrics.lastPoll.Set(float64(now.Unix()))
		if e.sourceDown >= e.cfg.Metrics.BlindAfter {
			e.log.Info("metrics source answers again: no longer blind", zap.Int("polls_missed", e.sourceDown))
			e.metrics.blind.Set(0)
			if active && e.cfg.Paging.PagerDuty.PageWhenBlind {
				e.notify(ctx, incident.Action{At: now, Kind: incident.Resolve, Onset: e.downSince,
					Message: "the metrics source answers again"})
			}
		}
		e.sourceDown = 0
		return
	}
	e.stats.SourceErrors++
	e.metrics.sourceUp.Set(0)
	if e.sourceDown == 0 {
		e.downSince = now
	}
	e.sourceDown++
	if e.sourceDown != e.cfg.Metrics.BlindAfter {
		return
	}
	e.metrics.blind.Set(1)
	e.log.Error("blind: the metrics source has not answered; no workload can be judged",
		zap.Int("polls", e.sourceDown), zap.Error(err))
	if active && e.cfg.Paging.PagerDuty.PageWhenBlind {
		e.notify(ctx, incident.Action{At: now, Kind: incident.Notice, Onset: e.downSince,
			Message: fmt.Sprintf("blind: the metrics source has not answered for %d polls: %v", e.sourceDown, err)})
	}
}

func (e *Engine) action(k incident.Kind, f detector.Finding) incident.Action {
	return incident.Action{
		At: f.At, Kind: k, Workload: f.Workload, Incident: detector.IncidentID(f.Workload, f.Onset),
		Onset: f.Onset, Ratio: f.Ratio, Requests: f.Requests,
		FailureCodes: e.cfg.Detection.FailureCodes, RunbookURL: e.cfg.Paging.RunbookURL,
	}
}

// fire pages an incident and rolls back when the policy says so. now is
// the poll at which it is announced: the firing poll, or a later one when
// this replica has just become leader.
func (e *Engine) fire(ctx context.Context, f detector.Finding, now time.Time) {
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
	}
	e.notify(ctx, page)
	if !dec.Rollback {
		return
	}
	err := e.executor.Rollback(ctx, dec.Plan)
	var unverified interface{ Unverified() bool }
	switch {
	case err == nil:
	case errors.As(err, &unverified) && unverified.Unverified():
		// Written, but not seen rolled out: it counts against the limits.
		e.policy.Done(now, dec.Plan)
		e.metrics.rollbacks.WithLabelValues(resultUnverified).Inc()
		e.failed(ctx, page, dec.Plan, err)
		return
	default:
		e.stats.RollbackErrors++
		e.metrics.rollbacks.WithLabelValues(resultFailed).Inc()
		e.failed(ctx, page, dec.Plan, err)
		return
	}
	e.policy.Done(now, dec.Plan)
	e.stats.Rollbacks++
	if dec.Plan.DryRun {
		e.metrics.rollbacks.WithLabelValues(resultDryRun).Inc()
	} else {
		e.metrics.rollbacks.WithLabelValues(resultDone).Inc()
	}
	rb := page
	rb.Kind = incident.Rollback
	rb.Plan = dec.Plan
	e.notify(ctx, rb)
}

func (e *Engine) failed(ctx context.Context, page incident.Action, plan *rollback.Plan, err error) {
	e.log.Error("rollback failed", zap.String("workload", page.Workload.String()),
		zap.String("incident", page.Incident), zap.Error(err))
	n := page
	n.Kind = incident.Notice
	n.Plan = plan
	n.Message = fmt.Sprintf("rollback to revision %d failed: %v", plan.ToRevision, err)
	e.notify(ctx, n)
}

func (e *Engine) notify(ctx context.Context, a incident.Action) {
	if err := e.notifier.Notify(ctx, a); err != nil {
		e.stats.NotifyErrors++
		e.log.Error("notify failed", zap.String("action", string(a.Kind)),
			zap.String("incident", a.Incident), zap.Error(err))
	}
}
