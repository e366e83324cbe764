package engine

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// WarmUp replays the poll instants of run.warm_up before now, telling
// and doing nothing, so a replica that starts knows which revisions
// served healthily and every incident under way with the onset (and so
// the dedup key) the replicas that watched it found. It gives up on a
// source that leaves metrics.blind_after queries in a row unanswered;
// ctx ends it early. See docs/engine.md#warm-up.
func (e *Engine) WarmUp(ctx context.Context, now time.Time) {
	span, step := e.cfg.Run.WarmUp, e.cfg.Detection.PollInterval
	if span <= 0 {
		return
	}
	span = min(span, maxWarmUpPolls*step)
	e.mu.Lock()
	e.warming = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.warming = false
		e.mu.Unlock()
	}()
	polls, failed, down := 0, 0, false
	var first time.Time                // the first instant replayed
	var lastObs []detector.Observation // the last instant replayed's answer
	// The last instant whose samples have landed: metrics.query_delay
	// before now, as a live poll waits; the live polls ask the later ones
	// (resumeFrom) once their delay has passed.
	last := PollAt(now.Add(-e.cfg.Metrics.QueryDelay), step).Add(-step)
	rctx, stop := context.WithCancel(ctx) // ends replay whichever way the loop ends
	defer stop()
	for r := range e.replay(rctx, PollAt(now.Add(-span), step), last, step) {
		if errors.Is(r.err, source.ErrNoData) {
			lastObs = nil // an answer: nothing was reported
		}
		if r.err != nil {
			failed++
			if down = r.down; down {
				e.log.Warn("warm-up given up: the metrics source left metrics.blind_after queries in a row unanswered",
					zap.Int("polls", polls), zap.Int("unanswered", failed), zap.Error(r.err))
				break
			}
			continue
		}
		e.evaluate(r.at, r.obs, nil)
		if polls == 0 {
			first = r.at
		}
		lastObs = r.obs
		polls++
	}
	if ctx.Err() != nil {
		return
	}
	backdated := 0
	if !down { // asking further back would only wait out more timeouts
		backdated = e.backdate(ctx, first)
	}
	gone := 0
	if down {
		// The last instant answered may predate a delete: settle on the
		// first live answer instead.
		e.mu.Lock()
		e.settleLater = true
		e.mu.Unlock()
	} else {
		gone = e.settleGone(lastObs)
	}
	e.mu.Lock()
	open := len(e.open)
	if !down {
		e.replayed = last
	}
	e.mu.Unlock()
	e.log.Info("warmed up on metrics history", zap.Duration("span", span), zap.Int("polls", polls),
		zap.Int("unanswered", failed), zap.Int("open_incidents", open), zap.Int("older_than_warm_up", backdated),
		zap.Int("deployment_gone", gone))
}

// settleDeferred runs the settleGone a warm-up that gave up left to the
// first live poll answered.
func (e *Engine) settleDeferred(obs []detector.Observation) {
	e.mu.Lock()
	later := e.settleLater
	e.settleLater = false
	e.mu.Unlock()
	if later {
		e.settleGone(obs)
	}
}

// settleGone resolves the incidents the replay left open for workloads
// that have no Deployment now and were not reported at the last instant
// replayed: their Deployment was deleted before this replica started
// (the replica that watched resolved them then), so no live poll would
// ever see them end, and announcing them would reopen a resolved alert.
// They are resolved as DeleteDeployment does (a resolve sent twice is
// harmless), and their leftover metrics are left out. It returns how
// many it resolved.
func (e *Engine) settleGone(last []detector.Observation) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	reported := make(map[workload.Ref]bool, len(last))
	for _, o := range last {
		reported[o.Workload] = true
	}
	n := 0
	for w := range e.open {
		if _, ok := e.history.Deployment(w); ok || reported[w] {
			continue
		}
		e.forget(w)
		n++
	}
	return n
}

// backdate follows every incident the replay found under way at its
// first instant back to its onset (searchOnset), so its id and dedup key
// are those the replicas that watched it found: its page continues their
// alert and its resolve closes it. It returns how many incidents were
// backdated.
func (e *Engine) backdate(ctx context.Context, first time.Time) int {
	if first.IsZero() {
		return 0
	}
	e.mu.Lock()
	var ws []workload.Ref
	for w, oi := range e.open {
		if oi.firing.Onset.Equal(first) {
			ws = append(ws, w)
		}
	}
	e.mu.Unlock()
	n := 0
	for _, w := range ws {
		onset := e.searchOnset(ctx, w, first)
		e.mu.Lock()
		if oi := e.open[w]; oi != nil && e.detector.Backdate(w, onset) {
			oi.firing.Onset = onset
			e.evidence.Backdate(w, onset)
			n++
		}
		e.mu.Unlock()
	}
	return n
}

// searchOnset returns the earliest poll instant from which w breached
// without a break up to known (an instant it breached at): back in
// doubling strides until w did not breach, then bisecting on the poll
// grid, at most maxOnsetSearch back. An instant the source does not
// answer ends the search where it stands.
func (e *Engine) searchOnset(ctx context.Context, w workload.Ref, known time.Time) time.Time {
	step, from := e.cfg.Detection.PollInterval, known
	var quiet time.Time // an instant w did not breach at
	for stride := step; ; stride *= 2 {
		at := known.Add(-stride)
		if from.Sub(at) > maxOnsetSearch {
			return known
		}
		b, ok := e.breachedAt(ctx, w, at)
		if !ok {
			return known
		}
		if !b {
			quiet = at
			break
		}
		known = at
	}
	if quiet.IsZero() {
		return known
	}
	for n := known.Sub(quiet) / step; n > 1; n = known.Sub(quiet) / step {
		mid := quiet.Add(n / 2 * step)
		b, ok := e.breachedAt(ctx, w, mid)
		switch {
		case !ok:
			return known
		case b:
			known = mid
		default:
			quiet = mid
		}
	}
	return known
}

// breachedAt asks the source whether w breached at an instant, judged as
// the live polls judge it (the workload, or its newest revision's own
// pods failing while the older ones serve healthily); no data is an
// answer (no breach). An instant left unanswered is asked again, up to
// onsetAttempts times in all: a search stopped by one slow query dates
// the incident later than the replicas that watched it, a second alert.
func (e *Engine) breachedAt(ctx context.Context, w workload.Ref, at time.Time) (breached, answered bool) {
	var obs []detector.Observation
	var err error
	for range onsetAttempts {
		if obs, err = e.source.Observe(ctx, at); source.Answered(err) || ctx.Err() != nil {
			break
		}
	}
	if !source.Answered(err) {
		e.log.Warn("onset search stopped: the metrics source did not answer for a past instant",
			zap.String("workload", w.String()), zap.Time("at", at), zap.Int("attempts", onsetAttempts), zap.Error(err))
		return false, false
	}
	for _, o := range obs {
		if o.Workload != w {
			continue
		}
		e.mu.Lock()
		judged := e.evidence.Judge(o, e.history)
		e.mu.Unlock()
		return e.detector.Rule().Judge(judged) == detector.Breaching, true
	}
	return false, true
}

// onsetAttempts is how many times the onset search asks for one instant.
const onsetAttempts = 3

// maxOnsetSearch bounds how far back an incident's onset is looked for
// (about 2 × log2(maxOnsetSearch / poll interval) queries per incident).
const maxOnsetSearch = 24 * time.Hour

// maxWarmUpPolls bounds a warm-up's queries (15 minutes of 15 s polls is
// 60), so a short poll interval does not delay the start.
const maxWarmUpPolls = 120

// replayAnswer is the source's answer for one past instant of a warm-up;
// down: the source has left metrics.blind_after queries in a row
// unanswered, and no more are asked.
type replayAnswer struct {
	at   time.Time
	obs  []detector.Observation
	err  error
	down bool
}

// replay asks the source for the instants from first to last, every
// step, in order, one query at a time, each asked while the previous
// answer is being evaluated: the source's time and the evaluation's
// overlap. The channel is unbuffered, so one answer at most waits for
// the caller (the one being fetched). It stops after a down answer or
// when ctx ends; a caller that stops reading earlier must end ctx.
func (e *Engine) replay(ctx context.Context, first, last time.Time, step time.Duration) <-chan replayAnswer {
	out := make(chan replayAnswer)
	src := &unanswered{Source: e.source, after: max(1, e.cfg.Metrics.BlindAfter)}
	go func() {
		defer close(out)
		for at := first; !at.After(last) && ctx.Err() == nil; at = at.Add(step) {
			obs, err := src.Observe(ctx, at)
			r := replayAnswer{at: at, obs: obs, err: err, down: err != nil && src.down()}
			select {
			case out <- r:
			case <-ctx.Done():
				return
			}
			if r.down {
				return
			}
		}
	}()
	return out
}
