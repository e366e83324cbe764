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
		p.queueLength.Set(float64(p.queue.advance(key, out == delivered)))
	}
}

// deliver sends e until it is accepted or rejected for good, or ctx ends.
// Between attempts it waits what PagerDuty asked for (Retry-After on a
// 429, at most maxRetryAfter), else the next step of the backoff. What
// PagerDuty asked for holds every lane (throttle), not only this one.
func (p *PagerDuty) deliver(ctx context.Context, e queuedEvent) outcome {
	b := p.backoff
	fields := []zap.Field{zap.Stringer("kind", e.kind), zap.String("event_action", e.event.Action),
		zap.String("dedup_key", e.event.DedupKey), zap.String("incident", e.incident)}
	for attempt := 1; ; attempt++ {
		if !p.throttle.wait(ctx, p.clock) {
			return interrupted
		}
		retry, err := p.client.send(ctx, e.event)
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
		delay := b.Step()
		if de.RetryAfter > 0 {
			delay = min(de.RetryAfter, maxRetryAfter)
			p.throttle.hold(p.clock.Now().Add(delay))
		}
		p.log.Warn("pagerduty delivery failed; retrying", append(fields, zap.Int("attempt", attempt),
			zap.Int("status", de.Status), zap.Duration("retry_in", delay), zap.Error(de))...)
		t := p.clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return interrupted
		case <-t.C():
		}
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
