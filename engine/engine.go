// Package engine runs one poll of sentinel: it asks the metrics source for
// every workload's rates, lets the detector judge them, links each new
// incident to the change behind it, decides on rollback, carries the
// rollback out and reports every action. The daemon calls Poll on a
// ticker and `sentinel simulate` calls it on the recording's clock: the
// decisions are the same code.
package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

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

	mu       sync.Mutex
	detector *detector.Detector
	history  *history.Tracker
	policy   *rollback.Policy
	stats    Stats
}

// Stats counts what the engine has done.
type Stats struct {
	Polls, SourceErrors, Pages, Resolves, Rollbacks, RollbackErrors, NotifyErrors int
	Refused                                                                       map[rollback.Reason]int
}

// New returns an engine. cfg must be valid (config.Validate).
func New(cfg config.Config, source Source, executor Executor, notifier Notifier, log *zap.Logger) *Engine {
	d := cfg.Detection
	return &Engine{
		cfg: cfg, source: source, executor: executor, notifier: notifier, log: log,
		detector: detector.New(detector.Rule{Threshold: d.Threshold, For: d.For,
			MinRequestRate: d.MinRequestRate, ResolveAfter: d.ResolveAfter}),
		history: history.New(history.Options{HealthyFor: cfg.Rollback.Healthy.MinDuration}),
		policy:  rollback.NewPolicy(cfg.Rollback),
		stats:   Stats{Refused: map[rollback.Reason]int{}},
	}
}

// ObserveDeployment feeds a Deployment observed at at.
func (e *Engine) ObserveDeployment(d *appsv1.Deployment, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.history.ObserveDeployment(d, at); ok {
		e.log.Info("template changed", zap.String("workload", c.Workload.String()),
			zap.Int64("revision", c.Revision), zap.String("manager", c.Manager),
			zap.Bool("image_changed", c.ImageChanged), zap.Strings("fields", c.Fields))
	}
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
		next := now.Truncate(step).Add(step)
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
	if srcErr != nil {
		e.stats.SourceErrors++
	}
	rule := e.detector.Rule()
	healthy := make(map[detector.Workload]bool, len(obs))
	for _, o := range obs {
		if rule.Judge(o) != detector.Unknown && o.Ratio() <= e.cfg.Rollback.Healthy.MaxErrorRatio {
			healthy[o.Workload] = true
		}
	}
	e.history.RecordHealth(now, func(w detector.Workload) bool { return healthy[w] })

	for _, f := range e.detector.Evaluate(now, obs) {
		switch f.Kind {
		case detector.Firing:
			e.fire(ctx, f)
		case detector.Resolved:
			e.stats.Resolves++
			e.notify(ctx, e.action(incident.Resolve, f))
		}
	}
	return srcErr
}

func (e *Engine) action(k incident.Kind, f detector.Finding) incident.Action {
	return incident.Action{
		At: f.At, Kind: k, Workload: f.Workload, Incident: detector.IncidentID(f.Workload, f.Onset),
		Onset: f.Onset, Ratio: f.Ratio, Requests: f.Requests,
		FailureCodes: e.cfg.Detection.FailureCodes, RunbookURL: e.cfg.Paging.RunbookURL,
	}
}

// fire pages a new incident and rolls back when the policy says so.
func (e *Engine) fire(ctx context.Context, f detector.Finding) {
	page := e.action(incident.Page, f)
	in := rollback.Input{Incident: page.Incident, Workload: f.Workload, Revisions: e.history.Revisions(f.Workload)}
	if c, ok := e.history.Cause(f.Workload, f.Onset, e.cfg.Detection.LinkWindow); ok {
		in.Cause = &c
		page.Cause = &c
	}
	if d, ok := e.history.Deployment(f.Workload); ok {
		in.Deployment = &d
	}
	dec := e.policy.Decide(f.At, in)
	page.Decision = dec
	e.stats.Pages++
	if !dec.Rollback {
		e.stats.Refused[dec.Reason]++
	}
	e.notify(ctx, page)
	if !dec.Rollback {
		return
	}
	if err := e.executor.Rollback(ctx, dec.Plan); err != nil {
		e.stats.RollbackErrors++
		e.log.Error("rollback failed", zap.String("workload", f.Workload.String()),
			zap.String("incident", page.Incident), zap.Error(err))
		n := e.action(incident.Notice, f)
		n.Plan = dec.Plan
		n.Message = fmt.Sprintf("rollback to revision %d failed: %v", dec.Plan.ToRevision, err)
		e.notify(ctx, n)
		return
	}
	e.policy.Done(f.At, dec.Plan)
	e.stats.Rollbacks++
	rb := e.action(incident.Rollback, f)
	rb.Plan = dec.Plan
	rb.Cause = page.Cause
	e.notify(ctx, rb)
}

func (e *Engine) notify(ctx context.Context, a incident.Action) {
	if err := e.notifier.Notify(ctx, a); err != nil {
		e.stats.NotifyErrors++
		e.log.Error("notify failed", zap.String("action", string(a.Kind)),
			zap.String("incident", a.Incident), zap.Error(err))
	}
}
