package evidence

import (
	"cmp"
	"slices"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
)

// Whole says why the revision rule was not applied although the newest
// revision's pods failed: the older pods could not be told healthy. A
// closed set.
type Whole string

const (
	// WholeOlderFailing: an older revision's pods are out of the healthy
	// band too.
	WholeOlderFailing Whole = "older_failing"
	// WholeUnlabelled: no older revision's labelled pods serve, and
	// traffic above the volume floor carries no revision label.
	WholeUnlabelled Whole = "unlabelled"
	// WholeGone: no older revision's labelled pods serve, and traffic
	// above the volume floor is labelled with ReplicaSets that are gone.
	WholeGone Whole = "replicaset_gone"
)

// Explain says it in a phrase.
func (w Whole) Explain() string {
	switch w {
	case WholeOlderFailing:
		return "the older pods fail too"
	case WholeUnlabelled:
		return "old pods unlabelled, their health unknown"
	case WholeGone:
		return "the older pods' labels name a ReplicaSet that is gone, their health unknown"
	}
	return string(w)
}

// Resolve maps o's per-revision traffic to its workload's ReplicaSets
// (traffic of revisions the history does not know is left out: it cannot
// be told apart) and sums the series of one ReplicaSet. It returns the
// revisions that served, newest first, with no run of their own.
func Resolve(o detector.Observation, deps Deployments) []Revision {
	out, _ := resolve(o, deps)
	return out
}

// resolve is Resolve that also returns the traffic of the label values
// that name no ReplicaSet the history knows.
func resolve(o detector.Observation, deps Deployments) (out []Revision, unresolved []detector.RevisionTraffic) {
	for _, rt := range o.Revisions {
		if rt.Requests <= 0 {
			continue // pods that served nothing say nothing
		}
		rs, ok := deps.ReplicaSetOf(o.Workload, rt.Revision)
		if !ok {
			unresolved = append(unresolved, rt)
			continue
		}
		// A workload serves from a few revisions at most: a search beats
		// a map made for every workload at every poll.
		if i := slices.IndexFunc(out, func(r Revision) bool { return r.Name == rs.Name }); i >= 0 {
			out[i].Requests += rt.Requests
			out[i].Failures += rt.Failures
			continue
		}
		out = append(out, Revision{ReplicaSet: rs, Requests: rt.Requests, Failures: rt.Failures})
	}
	slices.SortStableFunc(out, func(a, b Revision) int { return cmp.Compare(b.Revision, a.Revision) })
	return out, unresolved
}

// unlabelled is the rate of o's traffic that carries no revision label
// while some of it does, when it reaches the volume floor; else 0.
func (t *Tracker) unlabelled(o detector.Observation) float64 {
	if len(o.Revisions) == 0 {
		return 0
	}
	u := o.Requests
	for _, rt := range o.Revisions {
		u -= rt.Requests
	}
	if u < t.opts.MinRequestRate {
		return 0
	}
	return u
}

// revisions resolves o's per-revision traffic (resolve) and moves each
// revision's own run. It returns the revisions that served, newest first,
// and the traffic of label values that resolve to none.
func (t *Tracker) revisions(now time.Time, o detector.Observation, r *run, deps Deployments) ([]Revision, []detector.RevisionTraffic) {
	out, unresolved := resolve(o, deps)
	for i := range out {
		rev := &out[i]
		served := t.Served(rev.Requests, rev.Failures)
		run := r.revisions[rev.Name]
		if run == nil {
			if served != history.ServedFailing && served != history.ServedDegraded {
				continue // no run to start or move: a healthy fleet keeps none
			}
			run = &Revision{ReplicaSet: rev.ReplicaSet}
			r.revisions[rev.Name] = run
		}
		run.Requests, run.Failures = rev.Requests, rev.Failures
		switch served {
		case history.ServedHealthy:
			run.Began, run.Failed = time.Time{}, time.Time{}
		case history.ServedFailing:
			if run.Began.IsZero() {
				run.Began = now
			}
			if run.Failed.IsZero() {
				run.Failed = now
			}
		case history.ServedDegraded:
			if run.Began.IsZero() {
				run.Began = now
			}
		}
		rev.Began = run.Began
	}
	return out, unresolved
}
