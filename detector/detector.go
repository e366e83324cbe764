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
	"sort"
	"time"
)

// Workload names a Deployment by namespace and name, which is what Istio
// reports as destination_workload_namespace / destination_workload.
type Workload struct {
	Namespace string
	Name      string
}

func (w Workload) String() string { return w.Namespace + "/" + w.Name }

// Observation is a workload's traffic over the rate window ending at the
// evaluation time, in requests per second.
type Observation struct {
	Workload Workload
	// Requests is the rate of all requests, Failures the rate of those whose
	// response code counts as a failure.
	Requests float64
	Failures float64
}

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
	// OK: the ratio is at or below the threshold.
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
}

// Judge classifies one observation under the rule.
func (r Rule) Judge(o Observation) Verdict {
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
)

func (s State) String() string {
	return [...]string{"ok", "pending", "firing"}[s]
}

// Kind says what a finding reports.
type Kind int

const (
	// Firing: the breach held for the rule's For; an incident opens.
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
	Workload Workload
	At       time.Time
	// Onset is the first breaching evaluation of the incident; with the
	// workload it identifies the incident.
	Onset time.Time
	// Ratio and Requests are of the evaluation that produced the finding.
	Ratio    float64
	Requests float64
	// PeakRatio is the highest ratio seen in the incident so far.
	PeakRatio float64
}

// IncidentID is the stable identity of an incident: the same workload and
// onset always give the same id, so replicas and restarts agree on it.
func IncidentID(w Workload, onset time.Time) string {
	return fmt.Sprintf("%s/%s@%s", w.Namespace, w.Name, onset.UTC().Format(time.RFC3339))
}

type workloadState struct {
	state     State
	onset     time.Time // first breaching evaluation (pending, firing)
	okSince   time.Time // start of the current at-or-below streak (firing)
	peakRatio float64
}

// Detector holds the state of every workload it has judged. It is not safe
// for concurrent use; one poll loop owns it.
type Detector struct {
	rule   Rule
	states map[Workload]*workloadState
	seen   map[Workload]bool // scratch, reused by every Evaluate
}

// New returns a detector enforcing rule.
func New(rule Rule) *Detector {
	return &Detector{rule: rule, states: make(map[Workload]*workloadState), seen: make(map[Workload]bool)}
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
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Workload, out[j].Workload
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// Forget drops a workload's state (its Deployment is gone).
func (d *Detector) Forget(w Workload) { delete(d.states, w) }

// State reports a workload's state and, when pending or firing, its onset.
func (d *Detector) State(w Workload) (State, time.Time) {
	s, ok := d.states[w]
	if !ok {
		return StateOK, time.Time{}
	}
	return s.state, s.onset
}

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
	finding := func(k Kind) Finding {
		return Finding{Kind: k, Workload: o.Workload, At: now, Onset: s.onset,
			Ratio: o.Ratio(), Requests: o.Requests, PeakRatio: s.peakRatio}
	}
	switch s.state {
	case StateOK:
		if v != Breaching {
			delete(d.states, o.Workload)
			return Finding{}, false
		}
		*s = workloadState{state: StatePending, onset: now, peakRatio: o.Ratio()}
		fallthrough
	case StatePending:
		if v != Breaching {
			// Like an alerting rule, a pending breach that stops (or whose
			// data vanishes) never fired.
			delete(d.states, o.Workload)
			return Finding{}, false
		}
		s.peakRatio = max(s.peakRatio, o.Ratio())
		if now.Sub(s.onset) >= d.rule.For {
			s.state = StateFiring
			return finding(Firing), true
		}
	case StateFiring:
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
				f := finding(Resolved)
				delete(d.states, o.Workload)
				return f, true
			}
		}
	}
	return Finding{}, false
}
