// Package notify delivers sentinel's actions (pages, rollbacks, resolves,
// notices) to whoever reads them: the structured log, a replay's text or
// JSON output, PagerDuty (notify/pagerduty). Every notifier here satisfies
// engine.Notifier; Tee fans one action out to several.
package notify

import (
	"context"
	"errors"

	"github.com/sentinel-sre/sentinel/incident"
)

// Notifier reports one action; engine.Notifier is the same method set.
type Notifier interface {
	Notify(ctx context.Context, a incident.Action) error
}

// Tee reports each action to every notifier in order, and returns their
// errors joined: one failing notifier never keeps an action from the others.
type Tee []Notifier

// Notify reports a to all.
func (t Tee) Notify(ctx context.Context, a incident.Action) error {
	var errs []error
	for _, n := range t {
		if n == nil {
			continue
		}
		if err := n.Notify(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Collect keeps every action it is given, for a replay's summary and report
// and for tests.
type Collect struct{ Actions []incident.Action }

// Notify keeps a.
func (c *Collect) Notify(_ context.Context, a incident.Action) error {
	c.Actions = append(c.Actions, a)
	return nil
}
