package engine

import (
	"time"

	"github.com/sentinel-sre/sentinel/rollback"
)

// What a replica may do at a poll, and where each open incident stands in
// being announced (paged and decided) by it: docs/engine.md#announcing.

// mode is what the replica may do at one poll, read once per poll.
type mode int

const (
	warmingUp          mode = iota // replaying history at start-up: evaluates, tells nothing
	standingBy                     // another replica leads: evaluates, keeps its resolves
	leading                        // holds the Lease: pages, resolves, rolls back, tells notices
	pagingWithoutLease             // no replica is seen leading: pages and resolves only
)

func (m mode) String() string {
	switch m {
	case warmingUp:
		return "warming-up"
	case standingBy:
		return "standing-by"
	case leading:
		return "leading"
	case pagingWithoutLease:
		return "paging-without-lease"
	}
	return "unknown"
}

// mayPage reports whether the replica pages and resolves incidents (and
// sends the blind notice).
func (m mode) mayPage() bool { return m == leading || m == pagingWithoutLease }

// leads reports whether the replica does the leader's part besides
// paging: it rolls back, looks back for a rollback target and tells the
// notices that are not an incident's page or resolve.
func (m mode) leads() bool { return m == leading }

// pollMode is the replica's mode for a poll: a warm-up is a standby
// whatever the Lease says; paging, asked only of a replica that neither
// warms up nor leads, may be nil (never paging without the Lease).
func pollMode(warming bool, active, paging func() bool) mode {
	switch {
	case warming:
		return warmingUp
	case active():
		return leading
	case paging != nil && paging():
		return pagingWithoutLease
	}
	return standingBy
}

// announcement is where an open incident stands in being announced by
// this replica. Every change of it is made by next.
type announcement int

const (
	unannounced   announcement = iota // not paged by this replica yet
	announced                         // paged, its rollback decided
	awaitingLease                     // paged without the Lease: decided again once leading
	targetFound                       // a look back found a rollback target: decided again once leading
)

func (a announcement) String() string {
	switch a {
	case unannounced:
		return "unannounced"
	case announced:
		return "announced"
	case awaitingLease:
		return "awaiting-lease"
	case targetFound:
		return "target-found"
	}
	return "unknown"
}

// announceEvent is what happens to an incident's announcement.
type announceEvent int

const (
	paged             announceEvent = iota // paged, its rollback decided
	pagedWithoutLease                      // paged, its rollback held for want of the Lease
	lookBackFound                          // a look back found a healthy rollback target
)

func (ev announceEvent) String() string {
	switch ev {
	case paged:
		return "paged"
	case pagedWithoutLease:
		return "paged-without-lease"
	case lookBackFound:
		return "look-back-found"
	}
	return "unknown"
}

// next is the announcement after ev. A target found for an incident not
// yet decided, or waiting for the Lease, changes nothing: it is decided
// again anyway once this replica leads.
func (a announcement) next(ev announceEvent) announcement {
	switch ev {
	case paged:
		return announced
	case pagedWithoutLease:
		return awaitingLease
	case lookBackFound:
		if a == announced {
			return targetFound
		}
	}
	return a
}

// due reports whether a poll in mode m announces the incident: one this
// replica has not announced whenever it pages, one to be decided again
// once it leads.
func (a announcement) due(m mode) bool {
	switch a {
	case unannounced:
		return m.mayPage()
	case awaitingLease, targetFound:
		return m.leads()
	}
	return false
}

// announce pages the open incidents due at a poll in mode m (which
// pages), in workload order, and decides their rollback. Without the
// Lease it rolls nothing back: the page says so, and the incident waits
// to be decided again. Called with the lock held.
func (e *Engine) announce(now time.Time, m mode) []step {
	var steps []step
	for _, w := range e.openWhere(func(oi *openIncident) bool { return oi.state.due(m) }) {
		oi := e.open[w]
		st := e.decide(oi.firing, now)
		if m.leads() {
			st.lookBack = e.planLookBack(oi, st)
		}
		ev := paged
		if st.plan != nil && !m.leads() {
			st.plan, st.action.Decision = nil, rollback.Decision{Reason: rollback.ReasonNoLease}
			ev = pagedWithoutLease
			e.metrics.refused.WithLabelValues(string(rollback.ReasonNoLease)).Inc()
		}
		oi.state = oi.state.next(ev)
		steps = append(steps, st)
	}
	return steps
}
