package evidence

import (
	"cmp"
	"slices"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
)

// Resolve maps o's per-revision traffic to its workload's ReplicaSets
// (traffic of revisions the history does not know is left out: it cannot
// be told apart) and sums the series of one ReplicaSet. It returns the
// revisions that served, newest first, with no run of their own.
func Resolve(o detector.Observation, deps Deployments) []Revision {
	if len(o.Revisions) == 0 {
		return nil
	}
	var out []Revision
	for _, rt := range o.Revisions {
		if rt.Requests <= 0 {
			continue // pods that served nothing say nothing
		}
		rs, ok := deps.ReplicaSetOf(o.Workload, rt.Revision)
		if !ok {
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
	return out
}

// revisions resolves o's per-revision traffic (Resolve) and moves each
// revision's own run. It returns the revisions that served, newest first.
func (t *Tracker) revisions(now time.Time, o detector.Observation, r *run, deps Deployments) []Revision {
	out := Resolve(o, deps)
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
	return out
}
