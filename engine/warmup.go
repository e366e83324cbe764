package engine

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// WarmUp replays the poll instants of the run.warm_up before now, as a
// standby: the source answers for past instants, and the same evaluation
// learns which revisions served healthily and where each workload's
// failure stands. A replica that starts (after a restart, a rollout of
// sentinel itself, a failover) thus knows a rollback target at once, and
// an incident under way keeps its onset — so its id and PagerDuty dedup
// key are the ones the previous replica used, and its page merges into
// the same alert instead of opening a second one. Nothing is told or done
// while warming up; incidents found open are announced by the first live
// poll that leads, resolves found in the window by the quiet-resolve path.
// A source that leaves metrics.blind_after queries in a row unanswered is
// taken for down and the warm-up given up: each query costs a full
// timeout, and the live polls, which declare blindness, must not wait
// for dozens of them.
// A source error skips that instant (best effort); ctx ends it early. At
// most maxWarmUpPolls instants are asked, one query each.
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
	src := &unanswered{Source: e.source, after: max(1, e.cfg.Metrics.BlindAfter)}
	polls, failed := 0, 0
	last := PollAt(now, step).Add(-step) // the live polls start at PollAt(now)
	for at := PollAt(now.Add(-span), step); !at.After(last); at = at.Add(step) {
		if ctx.Err() != nil {
			return
		}
		obs, err := src.Observe(ctx, at)
		if err != nil {
			failed++
			if src.down() {
				e.log.Warn("warm-up given up: the metrics source left metrics.blind_after queries in a row unanswered",
					zap.Int("polls", polls), zap.Int("unanswered", failed), zap.Error(err))
				return
			}
			continue
		}
		e.evaluate(at, obs, nil)
		polls++
	}
	e.mu.Lock()
	open := len(e.open)
	e.mu.Unlock()
	e.log.Info("warmed up on metrics history", zap.Duration("span", span), zap.Int("polls", polls),
		zap.Int("unanswered", failed), zap.Int("open_incidents", open))
}

// maxWarmUpPolls bounds a warm-up's queries (15 minutes of 15 s polls is
// 60), so a short poll interval does not delay the start.
const maxWarmUpPolls = 120
