package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// Acting on an incident: the page and its decision, the rollback carried
// out with retries, and every report.

func (e *Engine) action(k incident.Kind, f detector.Finding) incident.Action {
	return incident.Action{
		At: f.At, Kind: k, Workload: f.Workload, Incident: workload.IncidentID(f.Workload, f.Onset),
		Onset: f.Onset, Ratio: f.Ratio, Requests: f.Requests,
		FailureCodes: e.cfg.Detection.FailureCodes, FailedBy: f.FailedBy, RunbookURL: e.cfg.Paging.RunbookURL,
	}
}

// resolution is the resolve of an incident. One whose Deployment was
// scaled to zero says so: its errors did not end, nothing is asked of it.
func (e *Engine) resolution(f detector.Finding) incident.Action {
	a := e.action(incident.Resolve, f)
	if f.Basis == detector.BasisScaledToZero {
		a.Message = scaledToZeroMessage
	}
	return a
}

// scaledToZeroMessage is the resolve's message of an incident whose
// Deployment was scaled to zero.
const scaledToZeroMessage = "the Deployment was scaled to zero replicas: it wants none, so none is failing"

// decide builds an incident's page and rollback decision. now is the poll
// at which it is announced: the firing poll, or a later one when this
// replica has just become leader. Called with the lock held.
func (e *Engine) decide(f detector.Finding, now time.Time) step {
	page := e.action(incident.Page, f)
	page.At = now
	in := rollback.Input{Incident: page.Incident, Workload: f.Workload, Revisions: e.history.Revisions(f.Workload)}
	ev, _ := e.evidence.Evidence(f.Workload)
	inc := evidence.Incident{Onset: f.Onset}
	if b, ok := e.began[f.Workload]; ok && b.onset.Equal(f.Onset) {
		inc.Began = b.began
	}
	blame := evidence.BlameChange(ev, inc,
		e.history.Changes(f.Workload, inc.Since(ev).Add(-e.cfg.Detection.LinkWindow), now))
	e.began[f.Workload] = incidentBegan{onset: f.Onset, began: blame.Since}
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
	if !dec.Rollback() {
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
		if plan.DryRun {
			e.metrics.rollbacks.WithLabelValues(resultDryRun).Inc()
		} else {
			e.metrics.rollbacks.WithLabelValues(resultDone).Inc()
		}
	case errors.As(err, &stale):
		e.metrics.rollbacks.WithLabelValues(resultSkipped).Inc()
	default:
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
	if e.cfg.Paging.PagerDuty.ChangeEvents && !plan.DryRun {
		e.notify(ctx, incident.RollbackChange(rb))
	}
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

// notify reports an action; called without the lock. An incident's
// action the notifier has no room for is kept and sent again, with those
// told after it, in order (keepUnsent).
func (e *Engine) notify(ctx context.Context, a incident.Action) {
	if e.holdBehind(a) {
		return
	}
	err := e.notifier.Notify(ctx, a)
	if errors.Is(err, incident.ErrNoRoom) {
		e.keepUnsent(a)
	}
	if err != nil {
		e.mu.Lock()
		if e.notifyErr == nil {
			e.notifyErr = err
		}
		e.mu.Unlock()
		e.log.Error("notify failed", zap.Stringer("action", a.Kind),
			zap.String("incident", a.Incident), zap.Error(err))
	}
}
