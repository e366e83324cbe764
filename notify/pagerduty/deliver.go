package pagerduty

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// outcome is how the delivery of one event ended.
type outcome int

const (
	delivered   outcome = iota // PagerDuty accepted it
	dropped                    // it can never be delivered
	interrupted                // ctx ended first; it stays queued
)

// maxRetryAfter bounds the wait a Retry-After can ask for: a proxy that
// answers a day must not silence an incident for a day.
const maxRetryAfter = 15 * time.Minute

// lane delivers the events of one dedup key in order until its lane is
// empty or ctx ends; it runs in its own goroutine (queue.activate).
func (p *PagerDuty) lane(ctx context.Context, key string) {
	for {
		e, ok := p.queue.head(key)
		if !ok {
			return
		}
		out := interrupted
		if ctx.Err() == nil {
			out = p.deliver(ctx, e)
		}
		if out == interrupted {
			p.queue.release(key)
			return
		}
		p.queue.advance(key, out == delivered)
	}
}

// deliver sends e until it is accepted or rejected for good, or ctx ends.
// Between attempts it waits what PagerDuty asked for (Retry-After on a
// 429, at most maxRetryAfter), else the next step of the backoff. What
// PagerDuty asked for holds every lane (throttle), not only this one.
func (p *PagerDuty) deliver(ctx context.Context, e queuedEvent) outcome {
	b := p.backoff
	fields := []zap.Field{zap.Stringer("kind", e.kind), zap.String("event_action", e.action()),
		zap.String("dedup_key", e.event.DedupKey), zap.String("incident", e.incident)}
	for attempt := 1; ; attempt++ {
		if !p.clear(ctx, e) {
			return interrupted
		}
		retry, err := p.send(ctx, e)
		if err == nil {
			p.sent.WithLabelValues(e.kind.String()).Inc()
			p.log.Info("pagerduty event delivered", append(fields, zap.Int("attempts", attempt))...)
			return delivered
		}
		if ctx.Err() != nil {
			return interrupted
		}
		var de *DeliveryError
		if !errors.As(err, &de) {
			de = &DeliveryError{msg: err.Error()}
		}
		if !retry {
			return p.giveUp(e, attempt, de, fields)
		}
		delay, throttled := b.Step(), de.RetryAfter > 0
		if throttled {
			delay = min(de.RetryAfter, maxRetryAfter)
			p.throttleOf(e).hold(p.clock.Now().Add(delay))
		}
		p.log.Warn("pagerduty delivery failed; retrying", append(fields, zap.Int("attempt", attempt),
			zap.Int("status", de.Status), zap.Duration("retry_in", delay), zap.Error(de))...)
		// Waiting out a Retry-After is not resting: the hold ends for
		// every lane at once, and this event still goes before changes.
		if !p.rest(ctx, e, delay, !throttled) {
			return interrupted
		}
	}
}

// send makes one attempt at e.
func (p *PagerDuty) send(ctx context.Context, e queuedEvent) (retry bool, err error) {
	if e.change != nil {
		return p.client.sendChange(ctx, *e.change)
	}
	return p.client.send(ctx, e.event)
}

// clear waits until e may be sent: no Retry-After holds it and, for a
// change event, no other event is ready to be sent, so that a change
// event never goes before a page, a resolve or a notice; false when ctx
// ended first.
func (p *PagerDuty) clear(ctx context.Context, e queuedEvent) bool {
	for {
		if !p.throttle.wait(ctx, p.clock) {
			return false
		}
		if e.change == nil {
			return true
		}
		if !p.changeThrottle.wait(ctx, p.clock) {
			return false
		}
		busy, stirred := p.queue.urgent()
		if !busy {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-stirred:
		}
	}
}

// throttleOf is what a Retry-After answered to e holds: every lane for an
// alert event, as PagerDuty limits the rate per routing key; only change
// events for a change event, which must never hold a page back.
func (p *PagerDuty) throttleOf(e queuedEvent) *throttle {
	if e.change != nil {
		return &p.changeThrottle
	}
	return &p.throttle
}

// rest waits d before e's next attempt, its lane marked as resting
// meanwhile when resting is set (change events may go); false when ctx
// ended first.
func (p *PagerDuty) rest(ctx context.Context, e queuedEvent, d time.Duration, resting bool) bool {
	if resting {
		p.queue.rest(e.key(), true)
		defer p.queue.rest(e.key(), false)
	}
	t := p.clock.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C():
		return true
	}
}

// throttle holds every lane's next attempt until the instant PagerDuty
// last asked for with Retry-After: its Events API limits the rate per
// routing key, which every lane shares, so another lane sending during
// the wait would only be throttled too, and prolong it.
type throttle struct {
	mu    sync.Mutex
	until time.Time
}

// hold makes attempts wait until at least until.
func (t *throttle) hold(until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until.After(t.until) {
		t.until = until
	}
}

// wait waits until no hold is in force; false when ctx ended first.
func (t *throttle) wait(ctx context.Context, clk clock.Clock) bool {
	for {
		t.mu.Lock()
		d := t.until.Sub(clk.Now())
		t.mu.Unlock()
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer := clk.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C():
		}
	}
}

// giveUp ends the delivery of e after an answer that another attempt
// would not change.
func (p *PagerDuty) giveUp(e queuedEvent, attempts int, de *DeliveryError, fields []zap.Field) outcome {
	fields = append(fields, zap.Int("attempts", attempts), zap.Int("status", de.Status))
	switch {
	case success(de.Status):
		p.sent.WithLabelValues(e.kind.String()).Inc()
		p.log.Warn("pagerduty accepted event with an unreadable answer; counted as delivered",
			append(fields, zap.Error(de))...)
		return delivered
	case de.Status == 0:
		p.failed.WithLabelValues(e.kind.String()).Inc()
		p.log.Error("pagerduty event could not be sent; dropped", append(fields, zap.Error(de))...)
		return dropped
	default:
		p.failed.WithLabelValues(e.kind.String()).Inc()
		p.log.Error("pagerduty rejected event; dropped",
			append(fields, zap.Strings("pagerduty_errors", de.Errors), zap.Error(de))...)
		return dropped
	}
}
