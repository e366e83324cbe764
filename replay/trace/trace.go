// Package trace explains a replay one poll at a time for one workload
// (`--trace NS/NAME`): the request rate, the failure ratio, the
// detector's state and, when nothing happened, why. It reads the engine's
// per-poll record (engine.WithPollHook) and never changes a decision.
package trace

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/workload"
)

// ParseWorkload reads NS/NAME.
func ParseWorkload(s string) (workload.Ref, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return workload.Ref{}, fmt.Errorf("--trace %q: want NAMESPACE/NAME", s)
	}
	return workload.Ref{Namespace: ns, Name: name}, nil
}

// Tracer prints one line per poll for one workload.
//
// Until the workload is known to exist (Known, or a poll with a series
// of it), its lines are held back: a name that matches nothing is one
// error at the end (Missing), not a line of "no data" per poll.
type Tracer struct {
	w        io.Writer
	workload workload.Ref
	rule     detector.Rule
	err      error

	found bool
	held  []heldPoll                // polls before it was found
	seen  map[workload.Ref]struct{} // workloads known or observed, for Missing
}

// heldPoll is what the line of a poll without the workload says, kept
// small: a backtest may hold a million.
type heldPoll struct {
	at, onset int64 // Unix nanoseconds
	state     detector.State
	srcErr    string
}

// heldLine is the held poll's line, as Line wrote it then.
func (t *Tracer) heldLine(h heldPoll) string {
	r := engine.PollRecord{At: time.Unix(0, h.at).UTC(), State: func(workload.Ref) (detector.State, time.Time) {
		if h.onset == 0 {
			return h.state, time.Time{}
		}
		return h.state, time.Unix(0, h.onset).UTC()
	}}
	if h.srcErr != "" {
		r.SourceErr = errors.New(h.srcErr)
	}
	return t.Line(r)
}

// New returns a tracer of workload writing to w, judging as cfg does.
func New(w io.Writer, wl workload.Ref, cfg config.Config) *Tracer {
	d := cfg.Detection
	return &Tracer{w: w, workload: wl, rule: detector.Rule{Threshold: d.Threshold, For: d.For,
		MinRequestRate: d.MinRequestRate, ResolveAfter: d.ResolveAfter}, seen: map[workload.Ref]struct{}{}}
}

// Err is the first write error, if any.
func (t *Tracer) Err() error { return t.err }

// Known tells the tracer of workloads that exist before any poll (a
// recording's, a change history's) and reports whether the traced one
// is among them.
func (t *Tracer) Known(workloads []workload.Ref) bool {
	for _, w := range workloads {
		t.seen[w] = struct{}{}
		if w == t.workload {
			t.found = true
		}
	}
	return t.found
}

// Missing is an error when no poll had a series of the workload and
// Known did not name it, listing the workloads there were; where says
// what was replayed ("the backtest").
func (t *Tracer) Missing(where string) error {
	if t.found {
		return nil
	}
	known := make([]workload.Ref, 0, len(t.seen))
	for w := range t.seen {
		known = append(known, w)
	}
	return NoSuchWorkload(t.workload, known, where)
}

// Hook is the engine's poll hook (engine.WithPollHook).
func (t *Tracer) Hook(r engine.PollRecord) {
	if t.err != nil {
		return
	}
	if !t.found {
		for _, o := range r.Observations {
			t.seen[o.Workload] = struct{}{}
		}
		if _, ok := find(r.Observations, t.workload); !ok {
			t.hold(r)
			return
		}
		t.found = true
		for _, h := range t.held {
			if _, t.err = fmt.Fprintln(t.w, t.heldLine(h)); t.err != nil {
				return
			}
		}
		t.held = nil
	}
	_, t.err = fmt.Fprintln(t.w, t.Line(r))
}

// hold keeps a poll without the workload.
func (t *Tracer) hold(r engine.PollRecord) {
	state, onset := r.State(t.workload)
	h := heldPoll{at: r.At.UnixNano(), state: state}
	if !onset.IsZero() {
		h.onset = onset.UnixNano()
	}
	if r.SourceErr != nil {
		h.srcErr = r.SourceErr.Error()
		if n := len(t.held); n > 0 && t.held[n-1].srcErr == h.srcErr {
			h.srcErr = t.held[n-1].srcErr // one copy of a repeated message
		}
	}
	t.held = append(t.held, h)
}

// Line explains one poll, on one line (workload.Printable) whatever the
// names and errors in it hold.
func (t *Tracer) Line(r engine.PollRecord) string { return workload.Printable(t.line(r)) }

func (t *Tracer) line(r engine.PollRecord) string {
	state, onset := r.State(t.workload)
	head := fmt.Sprintf("%s  trace     %s", r.At.UTC().Format(time.RFC3339), t.workload)
	if r.SourceErr != nil {
		return fmt.Sprintf("%s  no answer  %-8s %s", head, state, "unknown: the source had no usable answer ("+r.SourceErr.Error()+")")
	}
	o, found := find(r.Observations, t.workload)
	if !found {
		return fmt.Sprintf("%s  no data    %-8s %s", head, state, t.why(detector.Unknown, state, onset, r.At, "no series for the workload: unknown, never healthy nor failing"))
	}
	revs := ""
	if r.Evidence != nil {
		if ev, ok := r.Evidence(t.workload); ok {
			o, revs = ev.Judged, revisions(ev)
		}
	}
	v := t.rule.Judge(o)
	ratio := fmt.Sprintf("%5.1f%%", o.Ratio()*100)
	if o.Requests <= 0 {
		ratio = "    -"
	}
	why := ""
	if v == detector.Unknown {
		why = fmt.Sprintf("below the volume floor of %g req/s: unknown, never healthy nor failing", t.rule.MinRequestRate)
	}
	return fmt.Sprintf("%s  %7.2f req/s  ratio %s  %-9s %-8s %s%s", head, o.Requests, ratio, v, state,
		t.why(v, state, onset, r.At, why), revs)
}

// revisions lists the revisions' own ratios, the traffic no revision
// label resolves, and what the detector judged when it is not the
// workload as a whole, or why it is although the newest revision fails.
func revisions(ev evidence.Workload) string {
	if len(ev.Revisions) == 0 && len(ev.Unresolved) == 0 && ev.Judged.Basis == detector.BasisWorkload {
		return ""
	}
	var parts []string
	for _, rv := range ev.Revisions {
		parts = append(parts, fmt.Sprintf("revision %d %.1f%% at %.2f req/s", rv.Revision, rv.Ratio()*100, rv.Requests))
	}
	if ev.Unlabelled > 0 {
		parts = append(parts, fmt.Sprintf("%.2f req/s without a revision label", ev.Unlabelled))
	}
	for _, rt := range ev.Unresolved {
		parts = append(parts, fmt.Sprintf("labels name ReplicaSet %s, which is gone, %.1f%% at %.2f req/s", rt.Revision,
			rt.Ratio()*100, rt.Requests))
	}
	s := "  [" + strings.Join(parts, ", ")
	switch ev.Judged.Basis {
	case detector.BasisRevision:
		s += "; judged on the newest revision's pods"
	case detector.BasisStopped:
		s += "; stopped serving: judged as failing every request"
	case detector.BasisScaledToZero:
		s += "; scaled to zero: nothing wanted, nothing failing"
	default:
		if ev.Whole != "" {
			s += "; judged as a whole: " + ev.Whole.Explain()
		}
	}
	return s + "]"
}

// why says what the detector is waiting for.
func (t *Tracer) why(v detector.Verdict, s detector.State, onset, at time.Time, unknown string) string {
	thr := fmt.Sprintf("%.0f%%", t.rule.Threshold*100)
	switch s {
	case detector.StatePending:
		return fmt.Sprintf("breaching since %s; pages once that holds %s (held %s)",
			onset.UTC().Format("15:04:05"), t.rule.For, at.Sub(onset))
	case detector.StateFiring:
		switch v {
		case detector.Breaching:
			return "incident open since " + onset.UTC().Format("15:04:05") + ": no new page while it is open"
		case detector.OK:
			return fmt.Sprintf("incident open; at or below %s, resolves after %s of that", thr, t.rule.ResolveAfter)
		}
		return "incident open; " + unknown + ", so the resolve countdown restarts"
	}
	switch v {
	case detector.OK:
		return "nothing to do: at or below the threshold " + thr
	case detector.Breaching:
		return fmt.Sprintf("above %s: fires once that holds %s", thr, t.rule.For)
	}
	return unknown
}

func find(obs []detector.Observation, w workload.Ref) (detector.Observation, bool) {
	for _, o := range obs {
		if o.Workload == w {
			return o, true
		}
	}
	return detector.Observation{}, false
}
