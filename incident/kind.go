package incident

import "fmt"

// Kind is what an action is. Each kind says by itself what happened; no
// kind is told apart from another by which fields are empty. The zero
// value is no kind, which a caller never sends.
type Kind int

const (
	// Page opens an incident: a workload's requests fail.
	Page Kind = iota + 1
	// Rollback reports a rollback written (or, in dry-run mode,
	// validated by the API server only: Plan.DryRun) for an incident.
	Rollback
	// RollbackFailed reports that an incident's decided rollback was not
	// written: refused on a fresh read, or the write failed.
	RollbackFailed
	// RollbackUnverified reports a rollback that was written but not seen
	// rolled out in time.
	RollbackUnverified
	// Resolve closes an incident: its failure ended.
	Resolve
	// Drift tells of an image change outside the trusted deployers, with
	// no incident; the change is the Action's Cause.
	Drift
	// Blind tells that the metrics source stopped answering; it belongs
	// to no workload, and Onset is the first poll without an answer.
	Blind
	// Sighted ends a Blind notice: the source answers again. Its Onset is
	// the Blind notice's.
	Sighted
	// RollbackReverted tells, on an open incident, that the image was
	// changed again within the cooldown of sentinel's rollback (a GitOps
	// controller syncing it back, a person redoing it): never fought.
	RollbackReverted
	// BreakGlass tells of an image pushed past the admission guard with
	// the break-glass annotation (who and why in Message); the change is
	// the Action's Cause. Always sent, at low urgency.
	BreakGlass
	// Change tells of an image change of a watched Deployment (the Cause)
	// by anyone but sentinel, or of a rollback sentinel wrote (the Plan,
	// with its incident's id): a PagerDuty change event, told only with
	// paging.pagerduty.change_events (docs/paging.md#change-events).
	Change
)

// Kinds lists every kind but Change, so metrics can be pre-created; a
// Change is told only when asked for (paging.pagerduty.change_events),
// and its series are created then.
func Kinds() []Kind {
	return []Kind{Page, Rollback, RollbackFailed, RollbackUnverified, Resolve, Drift, Blind, Sighted, RollbackReverted, BreakGlass}
}

// String is the kind's name: the `kind` field of every rendering and the
// label of the pager's metrics.
func (k Kind) String() string {
	switch k {
	case Page:
		return "page"
	case Rollback:
		return "rollback"
	case RollbackFailed:
		return "rollback_failed"
	case RollbackUnverified:
		return "rollback_unverified"
	case Resolve:
		return "resolve"
	case Drift:
		return "drift"
	case Blind:
		return "blind"
	case Sighted:
		return "sighted"
	case BreakGlass:
		return "break_glass"
	case RollbackReverted:
		return "rollback_reverted"
	case Change:
		return "change"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// MarshalText renders the kind by name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Action is the documented `action` field of `sentinel simulate -o json`
// (and of expected.json): page, rollback or resolve, and notice for the
// notices that are neither (a rollback not done, unverified or reverted,
// drift, blind, break glass). The end of blindness is a resolve; a change
// is a change.
func (k Kind) Action() string {
	switch k {
	case Page, Rollback, Resolve, Change:
		return k.String()
	case Sighted:
		return Resolve.String()
	case RollbackFailed, RollbackUnverified, RollbackReverted, Drift, Blind, BreakGlass:
		return "notice"
	}
	return k.String()
}

// OfIncident reports whether actions of the kind belong to an incident
// (carry its id and update its alert).
func (k Kind) OfIncident() bool {
	switch k {
	case Page, Rollback, RollbackFailed, RollbackUnverified, RollbackReverted, Resolve:
		return true
	}
	return false
}
