package engine

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// lookBack learns from the source's answers for the instants before
// until whether revision, which a failing change replaced then, was
// healthy when it last served, for an incident with no healthy rollback
// target whose replica never judged that revision itself. See
// docs/engine.md#look-back.
type lookBack struct {
	workload workload.Ref
	incident string
	revision history.Revision // the newest older revision
	until    time.Time        // when the change replaced it
}

// maxLookBackPolls bounds a look back's queries, as maxWarmUpPolls does a
// warm-up's.
const maxLookBackPolls = maxWarmUpPolls

// planLookBack returns the look back to run for an incident refused for
// want of a healthy target, once per incident; nil otherwise. Called with
// the lock held.
func (e *Engine) planLookBack(oi *openIncident, st step) *lookBack {
	w, cause := st.action.Workload, st.action.Cause
	if st.action.Decision.Reason != rollback.ReasonNoHealthyTarget || oi.lookedBack || cause == nil || cause.At.IsZero() {
		return nil
	}
	// Only the revision the change replaced: its period ends at the
	// change, which is known. One running the same images is no target.
	revs := e.history.Revisions(w)
	d, ok := e.history.Deployment(w)
	if len(revs) == 0 || !ok || history.SameImages(revs[0].Images, d.Images) {
		return nil
	}
	if !e.history.Unjudged(w, revs[0].Name) {
		return nil // this replica judged it itself: its verdict stands
	}
	oi.lookedBack = true
	return &lookBack{workload: w, incident: st.action.Incident, revision: revs[0], until: cause.At}
}

// runLookBack asks the source for the instants before lb.until, judges
// the revision at each, and learns its health; called without the lock.
func (e *Engine) runLookBack(ctx context.Context, lb *lookBack) {
	step := e.cfg.Detection.PollInterval
	n := min(maxLookBackPolls, int(2*e.cfg.Rollback.Healthy.MinDuration/step)+2)
	last := PollAt(lb.until, step)
	if !last.Before(lb.until) {
		last = last.Add(-step)
	}
	judged := make([]history.Judged, 0, n)
	for at := last.Add(-time.Duration(n-1) * step); !at.After(last); at = at.Add(step) {
		if ctx.Err() != nil {
			return
		}
		obs, err := e.source.Observe(ctx, at)
		if err != nil {
			// Unknown: the healthy streak restarts, as live.
			judged = append(judged, history.Judged{At: at, Served: history.ServedUnknown})
			continue
		}
		e.mu.Lock()
		judged = append(judged, history.Judged{At: at, Served: e.pastServed(lb, obs)})
		e.mu.Unlock()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	healthy := e.history.LearnPastHealth(lb.workload, lb.revision.Name, judged)
	e.log.Info("looked back for a rollback target", zap.String("workload", lb.workload.String()),
		zap.String("incident", lb.incident), zap.Int64("revision", lb.revision.Revision),
		zap.Int("instants", len(judged)), zap.Bool("healthy", healthy))
	if oi := e.open[lb.workload]; healthy && oi != nil && workload.IncidentID(lb.workload, oi.firing.Onset) == lb.incident {
		oi.state = oi.state.next(lookBackFound)
	}
}

// pastServed judges lb's revision at one past instant; called with the
// lock held.
func (e *Engine) pastServed(lb *lookBack, obs []detector.Observation) history.Served {
	for _, o := range obs {
		if o.Workload != lb.workload {
			continue
		}
		if len(o.Revisions) == 0 {
			return e.evidence.Served(o.Requests, o.Failures)
		}
		for _, r := range evidence.Resolve(o, e.history) {
			if r.Name == lb.revision.Name {
				return e.evidence.Served(r.Requests, r.Failures)
			}
		}
	}
	return history.ServedUnknown
}
