package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// One poll: observe, judge, announce — under the engine's lock — then
// tell and act outside it.

// Poll evaluates every workload at now. A source error makes every
// workload unknown for this poll (never healthy, never failing) and is
// returned after the evaluation.
//
// Deciding happens under the engine's lock; paging and writing to the
// cluster happen outside it, so informer events keep flowing while a
// rollback is written, and its verification runs in the background.
func (e *Engine) Poll(ctx context.Context, now time.Time) error {
	obs, srcErr := e.source.Observe(ctx, now)
	if source.Answered(srcErr) {
		e.settleDeferred(obs)
	}
	if srcErr != nil {
		obs = nil
		srcErr = fmt.Errorf("observe metrics at %s: %w", now.UTC().Format(time.RFC3339), srcErr)
	}
	defer func() {
		e.mu.Lock()
		e.completed = now
		e.mu.Unlock()
	}()
	steps := e.evaluate(now, obs, srcErr)
	e.tellHook(now, obs, srcErr)
	for _, st := range steps {
		e.notify(ctx, st.action)
		if lb := st.lookBack; lb != nil && e.background {
			e.inFlight.Add(1)
			go func() {
				defer e.inFlight.Done()
				e.runLookBack(ctx, lb)
			}()
		} else if lb != nil {
			e.runLookBack(ctx, lb)
		}
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
	action   incident.Action
	plan     *rollback.Plan
	lookBack *lookBack
}

// evaluate judges the poll and decides, under the lock, returning what to
// report and do, in order.
func (e *Engine) evaluate(now time.Time, obs []detector.Observation, srcErr error) []step {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.metrics.polls.Inc()
	e.lastPoll = now
	m := pollMode(e.warming, e.active, e.paging)
	var steps []step
	tell := func(a incident.Action) { steps = append(steps, step{action: a}) }
	// A resolve is sent by a replica that pages. One that does not keeps
	// it, to send if it takes over from a leader that died first (which
	// would otherwise leave its page open).
	resolve := func(a incident.Action) {
		if m.mayPage() {
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
		case m.leads():
			tell(a)
		}
	}
	if a, ok := e.sourceHealth(now, srcErr, m); ok {
		tell(a)
	}

	e.history.Attribute() // first sights, before this poll reads the history
	e.tellRevisions(obs)
	obs = e.withoutDeleted(now, obs)
	judged := e.evidence.Poll(now, obs, e.history)
	e.recordHealth(now, judged, m)
	e.metrics.healthyKnown.Set(float64(e.history.WithHealthyRevision()))
	for _, f := range e.detector.Evaluate(now, judged) {
		switch f.Kind {
		case detector.Firing:
			if !f.Reopened {
				e.metrics.incidentsTotal.Inc()
			}
			e.open[f.Workload] = &openIncident{firing: f}
		case detector.Resolved:
			delete(e.open, f.Workload)
			resolve(e.resolution(f))
		}
	}
	for _, a := range e.quietResolvesDue(now, m) {
		tell(a)
	}
	if m.mayPage() {
		steps = append(steps, e.resend()...)
		steps = append(steps, e.announce(now, m)...)
	}
	e.metrics.incidentsOpen.Set(float64(len(e.open)))
	return steps
}

// quietResolvesDue returns, at a poll that pages, the resolves kept while
// this replica did not page that are recent enough that a leader which
// died may not have sent them, and forgets them all; at a poll that does
// not page it returns none and forgets those too old. Resolving twice is
// harmless: the dedup key makes it a no-op. Called with the lock held.
func (e *Engine) quietResolvesDue(now time.Time, m mode) []incident.Action {
	old := func(a incident.Action) bool { return now.Sub(a.At) > quietResolveHorizon }
	if !m.mayPage() {
		e.quietResolves = slices.DeleteFunc(e.quietResolves, old)
		return nil
	}
	due := slices.DeleteFunc(e.quietResolves, old)
	e.quietResolves = nil
	return due
}

// withoutDeleted leaves out the observations of deleted Deployments
// until the source has not reported them for a rate window plus a poll:
// what their pods served before they went is still in the window, and
// terminating pods may go on serving for their grace period, and neither
// may open a new incident that nothing would ever resolve. A workload
// still reported deleteHold after its Deployment went is another one of
// the same name, and is judged again. Called with the lock held.
func (e *Engine) withoutDeleted(now time.Time, obs []detector.Observation) []detector.Observation {
	if len(e.deleted) == 0 {
		return obs
	}
	linger := e.cfg.Detection.RateWindow + e.cfg.Detection.PollInterval
	for w, d := range e.deleted {
		if now.Sub(d.reported) > linger || now.Sub(d.at) > deleteHold {
			delete(e.deleted, w)
		}
	}
	out := make([]detector.Observation, 0, len(obs)) // a copy: the poll hook reads obs
	for _, o := range obs {
		d, gone := e.deleted[o.Workload]
		if !gone {
			out = append(out, o)
			continue
		}
		d.reported = now
		e.deleted[o.Workload] = d
	}
	return out
}

// deleteHold bounds how long a deleted Deployment's name is left
// unjudged while the source still reports it: far longer than any
// termination grace period.
const deleteHold = 15 * time.Minute

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
	if e.cfg.Metrics.Mesh == config.MeshIstioAmbient {
		e.log.Warn("metrics.mesh is istio-ambient: the series come from waypoint proxies, whose pod labels are the " +
			"waypoint's, not the destination's: judging every workload as a whole; see docs/metrics.md#istio-ambient")
		return
	}
	e.log.Warn("the metrics carry no revision or pod label (metrics.prometheus.revision_label, pod_label): " +
		"judging every workload as a whole; see docs/metrics.md#revisions")
}

// tellPoll logs a live poll that gave no metrics. An answer without data
// (an idle cluster, no traffic yet) is logged when it begins and when data
// returns, not every poll; a source that did not answer is logged every
// poll, and blindness says when that lasts.
func (e *Engine) tellPoll(err error) {
	switch {
	case err == nil:
		if e.noData {
			e.noData = false
			e.log.Info("metrics have data again: judging workloads")
		}
	case errors.Is(err, source.ErrNoData):
		if !e.noData {
			e.noData = true
			e.log.Warn("poll without metrics: every workload unknown until the metrics have data; logged again when they do",
				zap.Error(err))
		}
	default:
		e.log.Warn("poll without metrics: every workload unknown", zap.Error(err))
	}
}

// recordHealth records how every workload's templates served this poll:
// per revision, by each revision's own pods, where the metrics say which
// pods served; else the workload as a whole (for its current template,
// once rolled out).
func (e *Engine) recordHealth(now time.Time, judged []detector.Observation, m mode) {
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
	judge := func(w workload.Ref) history.Served { return served[w] }
	if m == warmingUp {
		// Replaying history: the template judged is the one live then.
		e.history.RecordPastHealth(now, judge)
		return
	}
	e.history.RecordHealth(now, judge)
}

// openWhere lists the workloads of the open incidents that match, in
// workload order. Called with the lock held.
func (e *Engine) openWhere(match func(*openIncident) bool) []workload.Ref {
	var ws []workload.Ref
	for w, oi := range e.open {
		if match(oi) {
			ws = append(ws, w)
		}
	}
	slices.SortFunc(ws, workload.Compare)
	return ws
}

// sourceHealth feeds the poll's answer to the blindness tracker and
// turns its steps into metrics, logs and notices. The blind notice and its
// resolve carry no workload and no incident, and share the first
// unanswered poll as their onset; a replica that takes over while blind
// sends the notice too.
func (e *Engine) sourceHealth(now time.Time, err error, m mode) (incident.Action, bool) {
	notify := m.mayPage() && e.cfg.Paging.PagerDuty.PageWhenBlind
	b := &e.blindness
	answered := source.Answered(err)
	step := b.poll(now, answered)
	if answered {
		e.metrics.sourceUp.Set(1)
		e.metrics.lastPoll.Set(float64(now.Unix()))
	} else {
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
