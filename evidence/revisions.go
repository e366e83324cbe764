package evidence

import (
	"sort"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
)

// revisions resolves o's per-revision traffic to w's ReplicaSets (traffic
// of revisions the history does not know is left out: it cannot be told
// apart), sums the series of one ReplicaSet, and moves each revision's
// own run. It returns the revisions that served, newest first.
func (t *Tracker) revisions(now time.Time, o detector.Observation, r *run, deps Deployments) []Revision {
	if len(o.Revisions) == 0 {
		return nil
	}
	byName := make(map[string]*Revision, len(o.Revisions))
	var out []Revision
	for _, rt := range o.Revisions {
		if rt.Requests <= 0 {
			continue // pods that served nothing say nothing
		}
		rs, ok := deps.ReplicaSetOf(o.Workload, rt.Revision)
		if !ok {
			continue
		}
		if rev := byName[rs.Name]; rev != nil {
			rev.Requests += rt.Requests
			rev.Failures += rt.Failures
			continue
		}
		out = append(out, Revision{ReplicaSet: rs, Requests: rt.Requests, Failures: rt.Failures})
		byName[rs.Name] = &out[len(out)-1]
	}
	for i := range out {
		rev := &out[i]
		run := r.revisions[rev.Name]
		if run == nil {
			run = &Revision{ReplicaSet: rev.ReplicaSet}
			r.revisions[rev.Name] = run
		}
		run.Requests, run.Failures = rev.Requests, rev.Failures
		switch t.Served(rev.Requests, rev.Failures) {
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
	sort.Slice(out, func(i, j int) bool { return out[i].Revision > out[j].Revision })
	return out
}
