package engine

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/source"
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
// A source error skips that instant (best effort); ctx ends it early. At
// most maxWarmUpPolls instants are asked, one query each. A source that
// leaves metrics.blind_after instants in a row unanswered is taken for
// down and the warm-up is given up: each unanswered query costs a full
// timeout, and the live polls, which declare blindness, must not wait
// for dozens of them.
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
	polls, failed, down := 0, 0, 0
	last := PollAt(now, step).Add(-step) // the live polls start at PollAt(now)
	for at := PollAt(now.Add(-span), step); !at.After(last); at = at.Add(step) {
		if ctx.Err() != nil {
			return
		}
		obs, err := e.source.Observe(ctx, at)
		down++
		if err == nil || errors.Is(err, source.ErrNoData) { // an answer, if empty
			down = 0
		}
		if down >= max(1, e.cfg.Metrics.BlindAfter) {
			e.log.Warn("warm-up given up: the metrics source has not answered metrics.blind_after queries in a row",
				zap.Int("polls", polls), zap.Int("unanswered", failed+1), zap.Error(err))
			return
		}
		if err != nil {
			failed++
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
