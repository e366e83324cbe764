// Package evidence chooses what the detector judges each workload by —
// the workload as a whole, the newest revision's own pods, a workload that
// stopped serving or one scaled to zero — and remembers what explains a
// failure later: when the errors began, which revision failed first, and
// so which change is to blame (BlameChange). It is pure, like the
// detector. See docs/detection.md.
package evidence

import (
	"slices"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/workload"
)

// Deployments is what evidence needs of the change history.
type Deployments interface {
	// ReplicaSetOf resolves a revision as the metrics name it.
	ReplicaSetOf(w workload.Ref, key string) (history.ReplicaSet, bool)
	// Rollout returns a Deployment's rollout state.
	Rollout(w workload.Ref) (history.Rollout, bool)
}

// Options are the thresholds evidence applies (from config).
type Options struct {
	// Threshold: failing above it (detection.threshold).
	Threshold float64
	// MinRequestRate: the volume floor, per workload and per revision.
	MinRequestRate float64
	// HealthyMaxRatio: healthy at or below it
	// (rollback.healthy.max_error_ratio); above it the errors have begun.
	HealthyMaxRatio float64
	// LinkWindow: a change at most this long before a workload stopped
	// serving can be why it stopped.
	LinkWindow time.Duration
}

// Revision is one revision's traffic in a poll, resolved to its
// ReplicaSet.
type Revision struct {
	history.ReplicaSet
	Requests, Failures float64
	// Began is when this revision's pods last left the healthy band in the
	// workload's current run; zero while they are healthy.
	Began time.Time
	// Failed is when this revision's pods first failed above the
	// threshold in the run; zero if they have not.
	Failed time.Time
}

// Ratio is the revision's failure ratio.
func (r Revision) Ratio() float64 {
	return detector.RevisionTraffic{Requests: r.Requests, Failures: r.Failures}.Ratio()
}

// Workload is the evidence about one workload at one poll.
type Workload struct {
	// Observed is what the source answered for the workload as a whole
	// (zero when it answered nothing).
	Observed detector.Observation
	// Judged is what the detector judges; its Basis says which rule chose it.
	Judged detector.Observation
	// Revisions are the revisions whose pods served this poll, resolved,
	// newest first; nil without per-revision metrics.
	Revisions []Revision
	// Unresolved is the traffic of revision labels that name no
	// ReplicaSet sentinel knows: gone, or never seen. Unlabelled is the
	// request rate without a revision label while other traffic has one,
	// when it reaches the volume floor. Neither is in Revisions.
	Unresolved []detector.RevisionTraffic
	Unlabelled float64
	// Whole says why the revision rule was not applied although the
	// newest revision's pods fail; empty when it was, or not called for.
	Whole Whole
	// Began is when the workload's failure ratio left the healthy band in
	// its current run (zero while healthy): when the errors began.
	Began time.Time
	// failing is the revision whose pods failed first in the run.
	failing *Revision
}

// FailingRevision returns the revision whose pods left the healthy band
// first in the current run (the newest one on a tie), including
// revisions that have stopped serving since; false without per-revision
// metrics.
func (w Workload) FailingRevision() (Revision, bool) {
	if w.failing == nil {
		return Revision{}, false
	}
	return *w.failing, true
}

// Tracker holds what evidence remembers across polls. Not safe for
// concurrent use; the engine serialises polls.
type Tracker struct {
	opts Options
	runs map[workload.Ref]*run
}

type run struct {
	began      time.Time
	servedAt   time.Time // last poll it served above the volume floor
	servedRate float64
	revisions  map[string]*Revision // by ReplicaSet name, this run
	last       Workload
}

// New returns an empty tracker.
func New(opts Options) *Tracker {
	return &Tracker{opts: opts, runs: map[workload.Ref]*run{}}
}

// Poll takes one poll's observations at now and returns the observations
// the detector judges, one per workload, sorted by workload. No
// observations at all (the source failed, or had no data) is no evidence
// that anything stopped serving.
func (t *Tracker) Poll(now time.Time, obs []detector.Observation, deps Deployments) []detector.Observation {
	if len(obs) == 0 {
		return nil
	}
	out := make([]detector.Observation, 0, len(obs))
	seen := make(map[workload.Ref]bool, len(obs))
	for _, o := range obs {
		seen[o.Workload] = true
		j, _ := t.observe(now, o, deps)
		out = append(out, j)
	}
	// A workload the source said nothing about may have stopped serving,
	// or been scaled to zero.
	for w := range t.runs {
		if seen[w] {
			continue
		}
		if j, silent := t.observe(now, detector.Observation{Workload: w}, deps); silent {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b detector.Observation) int { return workload.Compare(a.Workload, b.Workload) })
	return out
}

// Evidence returns the evidence about w at the last poll.
func (t *Tracker) Evidence(w workload.Ref) (Workload, bool) {
	r := t.runs[w]
	if r == nil {
		return Workload{}, false
	}
	return r.last, true
}

// Forget drops what is remembered of w (its Deployment is gone).
func (t *Tracker) Forget(w workload.Ref) { delete(t.runs, w) }

// Backdate moves the start of w's current run back to began, when its
// history shows the errors began before the first poll this tracker saw.
func (t *Tracker) Backdate(w workload.Ref, began time.Time) {
	if r := t.runs[w]; r != nil && !r.began.IsZero() && began.Before(r.began) {
		r.began = began
		r.last.Began = began
	}
}

// Served says how a workload or revision served, for health.
func (t *Tracker) Served(requests, failures float64) history.Served {
	if requests < t.opts.MinRequestRate || requests <= 0 {
		return history.ServedUnknown
	}
	switch ratio := (detector.Observation{Requests: requests, Failures: failures}).Ratio(); {
	case ratio <= t.opts.HealthyMaxRatio:
		return history.ServedHealthy
	case ratio > t.opts.Threshold:
		return history.ServedFailing
	}
	return history.ServedDegraded
}

// observe updates w's run with one observation (empty when the source
// said nothing of w) and chooses what the detector judges; true when w
// is judged without traffic of its own: it stopped serving, or its
// Deployment was scaled to zero.
func (t *Tracker) observe(now time.Time, o detector.Observation, deps Deployments) (detector.Observation, bool) {
	w := o.Workload
	r := t.runs[w]
	if r == nil {
		r = &run{revisions: map[string]*Revision{}}
	}
	ev := Workload{Observed: o, Judged: o, Unlabelled: t.unlabelled(o)}
	ev.Revisions, ev.Unresolved = t.revisions(now, o, r, deps)
	serving := o.Requests >= t.opts.MinRequestRate && o.Requests > 0
	// Only a workload that does not serve needs its Deployment's status.
	var ro history.Rollout
	known := false
	if !serving {
		ro, known = deps.Rollout(w)
	}
	stopped := !serving && t.stopped(r, ro)
	idle := !serving && known && !r.servedAt.IsZero() && ro.Replicas == 0
	switch {
	case serving:
		r.servedAt, r.servedRate = now, o.Requests
		ev.Judged, ev.Whole = t.judgeRevision(ev)
		t.track(now, r, ev.Judged)
	case stopped:
		ev.Judged = detector.Observation{Workload: w, Requests: r.servedRate, Failures: r.servedRate,
			Basis: detector.BasisStopped}
		t.track(now, r, ev.Judged)
	case idle:
		// It serves nothing because nothing is wanted of it: the run is
		// over. Kept while scaled to zero, so an incident it had resolves
		// however long resolve_after is.
		ev.Judged = detector.Observation{Workload: w, Basis: detector.BasisScaledToZero}
		r.began = time.Time{}
		clear(r.revisions)
	case now.Sub(r.servedAt) > t.opts.LinkWindow && r.began.IsZero():
		delete(t.runs, w) // long quiet: nothing worth remembering
		return o, false
	}
	ev.Began = r.began
	ev.failing = r.failing()
	r.last = ev
	t.runs[w] = r
	return ev.Judged, stopped || idle
}

// stopped reports whether a workload that served stopped after a change:
// its Deployment wants replicas, has none available, and its template
// changed at most the link window before it last served.
func (t *Tracker) stopped(r *run, ro history.Rollout) bool {
	if r.servedAt.IsZero() {
		return false
	}
	return ro.StatusKnown && ro.Replicas > 0 && ro.Available == 0 &&
		!ro.ChangedAt.IsZero() && !ro.ChangedAt.Before(r.servedAt.Add(-t.opts.LinkWindow))
}

// track moves the run's start: the first poll outside the healthy band
// since the workload was last inside it. Unknown polls move nothing.
func (t *Tracker) track(now time.Time, r *run, o detector.Observation) {
	switch t.Served(o.Requests, o.Failures) {
	case history.ServedHealthy:
		r.began = time.Time{}
		clear(r.revisions) // the run is over
	case history.ServedDegraded, history.ServedFailing:
		if r.began.IsZero() {
			r.began = now
		}
	}
}

// Judge returns what the detector judges of o, an observation of a past
// instant: as the live polls choose (the newest revision's own pods when
// they fail while the older ones serve healthily, else the workload), but
// from o alone, moving no run. A workload that stopped serving is not
// told apart from one with no data.
func (t *Tracker) Judge(o detector.Observation, deps Deployments) detector.Observation {
	ev := Workload{Observed: o, Unlabelled: t.unlabelled(o)}
	ev.Revisions, ev.Unresolved = resolve(o, deps)
	j, _ := t.judgeRevision(ev)
	return j
}

// judgeRevision returns the newest revision's own traffic when its pods
// fail while the older revisions' pods serve healthily; else the
// workload's, and, when the newest revision's pods fail, why.
func (t *Tracker) judgeRevision(ev Workload) (detector.Observation, Whole) {
	o := ev.Observed
	var newest *Revision
	olderServed, olderFailing := false, false
	for i := range ev.Revisions {
		r := &ev.Revisions[i]
		if r.Current {
			newest = r
			continue
		}
		switch t.Served(r.Requests, r.Failures) {
		case history.ServedHealthy:
			olderServed = true
		case history.ServedFailing, history.ServedDegraded:
			olderFailing = true
		}
	}
	unresolved := 0.0
	for _, rt := range ev.Unresolved {
		unresolved += rt.Requests
	}
	switch {
	case newest == nil || t.Served(newest.Requests, newest.Failures) != history.ServedFailing:
		return o, ""
	case olderFailing:
		return o, WholeOlderFailing
	case olderServed:
		// What failed is said of the workload: its older pods are
		// healthy, so its failures are nearly all the newest revision's.
		return detector.Observation{Workload: o.Workload, Requests: newest.Requests, Failures: newest.Failures,
			Revisions: o.Revisions, Basis: detector.BasisRevision, FailedBy: o.FailedBy}, ""
	case ev.Unlabelled > 0:
		return o, WholeUnlabelled
	case unresolved >= t.opts.MinRequestRate:
		return o, WholeGone
	}
	return o, "" // the newest revision's pods serve alone
}

// failing is the revision whose pods left the healthy band first in the
// run, the newest on a tie.
func (r *run) failing() *Revision {
	var first *Revision
	key := func(rev *Revision) (bool, time.Time) { return !rev.Failed.IsZero(), rev.Began }
	for _, rev := range r.revisions {
		if rev.Began.IsZero() {
			continue
		}
		// A revision that failed above the threshold is the failing one
		// before any that only left the healthy band.
		if first == nil {
			first = rev
			continue
		}
		rf, rb := key(rev)
		ff, fb := key(first)
		switch {
		case rf && !ff:
			first = rev
		case rf == ff && rf && (rev.Failed.Before(first.Failed) || rev.Failed.Equal(first.Failed) && rev.Revision > first.Revision):
			first = rev
		case rf == ff && !rf && (rb.Before(fb) || rb.Equal(fb) && rev.Revision > first.Revision):
			first = rev
		}
	}
	if first == nil {
		return nil
	}
	c := *first
	return &c
}
