package engine

import (
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// A notifier with no room for an action now (a full pager queue:
// incident.ErrNoRoom) would otherwise lose it: a page never sent, or the
// rollback's outcome never told. An open incident keeps such actions, and
// those told after them, and the next poll that pages sends them again in
// order. A resolve is never refused (the pager always queues one), and
// an incident that ends drops what it kept: its resolve closes the alert.

// keepUnsent keeps a refused action of an open incident.
func (e *Engine) keepUnsent(a incident.Action) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if oi := e.openOf(a); oi != nil {
		oi.unsent = append(oi.unsent, a)
	}
}

// holdBehind keeps a, and reports so, when an earlier action of its
// incident waits to be sent again: a is sent after it.
func (e *Engine) holdBehind(a incident.Action) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if oi := e.openOf(a); oi != nil && len(oi.unsent) > 0 {
		oi.unsent = append(oi.unsent, a)
		return true
	}
	return false
}

// openOf is the open incident an action belongs to, or nil. Called with
// the lock held.
func (e *Engine) openOf(a incident.Action) *openIncident {
	if a.Kind == incident.Resolve || !a.Kind.OfIncident() {
		return nil
	}
	if oi := e.open[a.Workload]; oi != nil && workload.IncidentID(a.Workload, oi.firing.Onset) == a.Incident {
		return oi
	}
	return nil
}

// resend returns the kept actions, in workload order and each incident's
// in the order told, and forgets them. Called with the lock held.
func (e *Engine) resend() []step {
	var steps []step
	for _, w := range e.openWhere(func(oi *openIncident) bool { return len(oi.unsent) > 0 }) {
		oi := e.open[w]
		for _, a := range oi.unsent {
			steps = append(steps, step{action: a})
		}
		oi.unsent = nil
	}
	return steps
}
