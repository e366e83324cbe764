// Package detector decides, per workload, when a failure ratio becomes an
// incident and when that incident ends.
//
// It is pure: observations and the evaluation time go in, findings come out.
// It reads no clock and does no I/O, so the daemon and `sentinel simulate`
// run exactly the same decisions. Each workload follows the life of a
// Prometheus alerting rule with a `for` duration: ok → pending → firing →
// resolved (and ok again).
package detector

import (
	"fmt"
	"slices"
	"time"

	"github.com/sentinel-sre/sentinel/workload"
)

// Observation is a workload's traffic over the rate window ending at the
// evaluation time, in requests per second.
type Observation struct {
	Workload workload.Ref
	// Requests is the rate of all requests, Failures the rate of those whose
	// response code counts as a failure.
	Requests float64
	Failures float64
	// Revisions splits the same traffic by the revision whose pods served
	// it, when the metrics carry pod labels; nil when they do not. Traffic
	// without a revision label is in the totals only.
	Revisions []RevisionTraffic
	// Basis says what the rates are of when they are not the workload's
	// own sidecars' (see Basis); empty for the workload as a whole.
	Basis Basis
	// FailedBy splits the workload's failures by what failed, for the
	// words of a page; nil unless some call failed with a gRPC status.
	FailedBy []Failure
}

// Failure is the rate of one kind of failure: calls that failed with the
// gRPC status GRPC (e.g. "14"), or, GRPC empty, requests that failed by
// their response code.
type Failure struct {
	GRPC string
	Rate float64
}

// RevisionTraffic is the part of a workload's traffic served by the pods
// of one revision.
type RevisionTraffic struct {
	// Revision names the revision as the metrics do: a pod-template-hash
	// (the ReplicaSet's), or a ReplicaSet name taken from a pod name.
	Revision string
	Requests float64
	Failures float64
}

// Ratio is the revision's failure ratio; meaningless when Requests is 0.
func (r RevisionTraffic) Ratio() float64 {
	return Observation{Requests: r.Requests, Failures: r.Failures}.Ratio()
}

// Basis says what an observation judged for a workload measures.
type Basis string

const (
	// BasisWorkload: the workload's traffic as a whole.
	BasisWorkload Basis = ""
	// BasisRevision: the newest revision's own pods, failing while the
	// older pods stay healthy.
	BasisRevision Basis = "revision"
	// BasisStopped: the workload stopped serving after a template change:
	// no replica available, or only its callers report (failing) requests.
	BasisStopped Basis = "stopped"
	// BasisScaledToZero: the workload serves nothing because its
	// Deployment wants no replica. Nothing is asked of it, so nothing
	// fails: judged OK without traffic, so an incident it had resolves.
	BasisScaledToZero Basis = "scaled_to_zero"
)

// Ratio is the failure ratio; meaningless when Requests is zero.
func (o Observation) Ratio() float64 {
	if o.Requests <= 0 {
		return 0
	}
	r := o.Failures / o.Requests
	if r > 1 { // extrapolation of two counters can overshoot slightly
		r = 1
	}
	return r
}

// Verdict is how one observation is judged.
type Verdict int

const (
	// Unknown: no data, or traffic below the volume floor. Never healthy,
	// never failing.
	Unknown Verdict = iota
	// OK: the ratio is at or below the threshold, or the workload is
	// scaled to zero (BasisScaledToZero).
	OK
	// Breaching: the ratio is above the threshold.
	Breaching
)

func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case Breaching:
		return "breaching"
	default:
		return "unknown"
	}
}

// Rule is what the detector enforces.
type Rule struct {
	Threshold      float64       // breach when ratio > Threshold
	For            time.Duration // breach must hold this long to fire
	MinRequestRate float64       // volume floor, requests per second
	ResolveAfter   time.Duration // ratio ≤ Threshold this long to resolve
	// ReopenWithin: a workload that breaches again this soon after its
	// incident resolved continues that incident (same onset, same id)
	// instead of opening a new one. 0 never reopens.
	ReopenWithin time.Duration
}

// Judge classifies one observation under the rule.
func (r Rule) Judge(o Observation) Verdict {
	if o.Basis == BasisScaledToZero {
		return OK
	}
	if !(o.Requests >= r.MinRequestRate) || o.Requests <= 0 {
		return Unknown
	}
	if o.Ratio() > r.Threshold {
		return Breaching
	}
	return OK
}

// State is where a workload is in its life cycle.
type State int

const (
	StateOK State = iota
	StatePending
	StateFiring
	// StateResolved: the incident resolved less than Rule.ReopenWithin
	// ago; a new breach continues it.
	StateResolved
)

func (s State) String() string {
	switch s {
	case StateOK:
		return "ok"
	case StatePending:
		return "pending"
	case StateFiring:
		return "firing"
	case StateResolved:
		return "resolved"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Kind says what a finding reports.
type Kind int

const (
	// Firing: the breach held for the rule's For; an incident opens (or,
	// with Reopened, a recently resolved one opens again).
	Firing Kind = iota + 1
	// Resolved: the ratio stayed at or below the threshold for ResolveAfter.
	Resolved
)

func (k Kind) String() string {
	switch k {
	case Firing:
		return "firing"
	case Resolved:
		return "resolved"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Finding is a change of incident state.
type Finding struct {
	Kind     Kind
	Workload workload.Ref
	At       time.Time
	// Onset is the first breaching evaluation of the incident; with the
	// workload it identifies the incident. A reopened incident keeps it.
	Onset time.Time
	// Ratio and Requests are of the evaluation that produced the finding.
	Ratio    float64
	Requests float64
	// SpanRatio is the request-weighted failure ratio over the polls from
	// the breach's first poll to this one (firing findings).
	SpanRatio float64
	// PeakRatio is the highest ratio seen in the incident so far.
	PeakRatio float64
	// Reopened: the incident had resolved at ResolvedAt and breaches again
	// within Rule.ReopenWithin.
	Reopened   bool
	ResolvedAt time.Time
	// Basis is what the evaluation behind the finding measured.
	Basis Basis
	// FailedBy is the evaluation's Observation.FailedBy.
	FailedBy []Failure
}

type workloadState struct {
	state     State
	onset     time.Time // first breaching evaluation (pending, firing)
	okSince   time.Time // start of the current at-or-below streak (firing)
	peakRatio float64
	// requests and failures summed over the pending span's polls
	requests, failures float64
	// the incident this breach would continue, if any (resolved recently)
	prior *closed
}

// closed is an incident that resolved, remembered for Rule.ReopenWithin.
type closed struct {
	onset, resolvedAt time.Time
	peakRatio         float64
}

// Detector holds the state of every workload it has judged. It is not safe
// for concurrent use; one poll loop owns it.
type Detector struct {
	rule   Rule
	states map[workload.Ref]*workloadState
	seen   map[workload.Ref]bool // scratch, reused by every Evaluate
}

// New returns a detector enforcing rule.
func New(rule Rule) *Detector {
	return &Detector{rule: rule, states: make(map[workload.Ref]*workloadState), seen: make(map[workload.Ref]bool)}
}

// Rule returns the rule the detector enforces.
func (d *Detector) Rule() Rule { return d.rule }

// Evaluate judges one poll taken at now. Workloads with an open state but
// no observation in obs are judged Unknown. Findings are sorted by workload
// so output is deterministic.
func (d *Detector) Evaluate(now time.Time, obs []Observation) []Finding {
	var out []Finding
	// Only workloads with an open state need to know whether they were
	// observed; quiet ones leave no state.
	seen := d.seen
	clear(seen)
	for _, o := range obs {
		if f, ok := d.step(now, o); ok {
			out = append(out, f)
		}
		if _, open := d.states[o.Workload]; open {
			seen[o.Workload] = true
		}
	}
	for w, s := range d.states {
		if seen[w] || s.state == StateOK {
			continue
		}
		if f, ok := d.step(now, Observation{Workload: w}); ok {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b Finding) int { return workload.Compare(a.Workload, b.Workload) })
	return out
}

// EndReopen stops a workload's resolved incident from reopening: a
// template change since the resolve makes any new failure a new incident.
func (d *Detector) EndReopen(w workload.Ref) {
	s := d.states[w]
	if s == nil {
		return
	}
	if s.state == StateResolved {
		delete(d.states, w)
		return
	}
	if s.state == StatePending {
		s.prior = nil
	}
}

// Forget drops a workload's state (its Deployment is gone).
func (d *Detector) Forget(w workload.Ref) { delete(d.states, w) }

// Backdate moves the onset of a workload's pending or firing breach back
// to onset, when its history shows the breach began before the first
// evaluation this detector made of it (a replay of the recent past);
// false when there is no such breach or onset is not earlier.
func (d *Detector) Backdate(w workload.Ref, onset time.Time) bool {
	s := d.states[w]
	if s == nil || s.state != StatePending && s.state != StateFiring || !onset.Before(s.onset) {
		return false
	}
	s.onset = onset
	return true
}

// State reports a workload's state and, when pending or firing, its onset.
func (d *Detector) State(w workload.Ref) (State, time.Time) {
	s, ok := d.states[w]
	if !ok {
		return StateOK, time.Time{}
	}
	if s.state == StateResolved {
		return s.state, s.prior.onset
	}
	return s.state, s.onset
}

// step moves one workload through its life cycle:
//
//   - ok → pending on a breaching poll (the onset);
//   - pending → firing once For has passed since the onset, the poll
//     breaches, and the failure ratio over the whole span (requests and
//     failures summed over its polls) is above the threshold — so a
//     failure that swings across the line, failing most requests over
//     the span, fires; pending → ok (or back to resolved) when the span's
//     ratio falls to the threshold or the data vanishes;
//   - firing → resolved after ResolveAfter at or below the threshold (or
//     scaled to zero);
//   - resolved → ok after ReopenWithin; a breach before then is pending
//     again, and fires as the same incident.
func (d *Detector) step(now time.Time, o Observation) (Finding, bool) {
	v := d.rule.Judge(o)
	s := d.states[o.Workload]
	if s == nil {
		if v != Breaching {
			return Finding{}, false // nothing to remember for a quiet workload
		}
		s = &workloadState{}
		d.states[o.Workload] = s
	}
	switch s.state {
	case StateOK, StateResolved:
		if s.state == StateResolved && now.Sub(s.prior.resolvedAt) > d.rule.ReopenWithin {
			s.prior = nil
		}
		if v != Breaching {
			d.settle(o.Workload, s)
			return Finding{}, false
		}
		*s = workloadState{state: StatePending, onset: now, prior: s.prior}
		return d.pending(now, o, s, v)
	case StatePending:
		return d.pending(now, o, s, v)
	case StateFiring:
		return d.firing(now, o, s, v)
	}
	return Finding{}, false
}

// settle leaves a quiet workload ok (no state kept) or, within
// ReopenWithin of its last resolve, resolved.
func (d *Detector) settle(w workload.Ref, s *workloadState) {
	if s.prior == nil {
		delete(d.states, w)
		return
	}
	*s = workloadState{state: StateResolved, prior: s.prior}
}

func (d *Detector) pending(now time.Time, o Observation, s *workloadState, v Verdict) (Finding, bool) {
	if v == Unknown || o.Requests <= 0 {
		// Like an alerting rule, a pending breach whose data vanishes
		// (or whose Deployment was scaled to zero) never fired.
		d.settle(o.Workload, s)
		return Finding{}, false
	}
	s.requests += o.Requests
	s.failures += o.Failures
	span := Observation{Requests: s.requests, Failures: s.failures}.Ratio()
	if span <= d.rule.Threshold {
		d.settle(o.Workload, s)
		return Finding{}, false
	}
	if v == Breaching {
		s.peakRatio = max(s.peakRatio, o.Ratio())
	}
	if v != Breaching || now.Sub(s.onset) < d.rule.For {
		return Finding{}, false
	}
	f := Finding{Kind: Firing, Workload: o.Workload, At: now, Onset: s.onset, Ratio: o.Ratio(),
		Requests: o.Requests, SpanRatio: span, PeakRatio: s.peakRatio, Basis: o.Basis, FailedBy: o.FailedBy}
	if p := s.prior; p != nil {
		f.Onset, f.Reopened, f.ResolvedAt = p.onset, true, p.resolvedAt
		f.PeakRatio = max(f.PeakRatio, p.peakRatio)
		s.onset = p.onset
	}
	s.state, s.prior, s.okSince = StateFiring, nil, time.Time{}
	s.peakRatio = f.PeakRatio
	return f, true
}

func (d *Detector) firing(now time.Time, o Observation, s *workloadState, v Verdict) (Finding, bool) {
	switch v {
	case Breaching:
		s.peakRatio = max(s.peakRatio, o.Ratio())
		s.okSince = time.Time{}
	case Unknown:
		// Unknown is never healthy: the at-or-below streak restarts.
		s.okSince = time.Time{}
	case OK:
		if s.okSince.IsZero() {
			s.okSince = now
		}
		if now.Sub(s.okSince) >= d.rule.ResolveAfter {
			f := Finding{Kind: Resolved, Workload: o.Workload, At: now, Onset: s.onset,
				Ratio: o.Ratio(), Requests: o.Requests, PeakRatio: s.peakRatio, Basis: o.Basis, FailedBy: o.FailedBy}
			if d.rule.ReopenWithin > 0 {
				*s = workloadState{state: StateResolved, prior: &closed{onset: s.onset, resolvedAt: now, peakRatio: s.peakRatio}}
			} else {
				delete(d.states, o.Workload)
			}
			return f, true
		}
	}
	return Finding{}, false
}
