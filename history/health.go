package history

import (
	"time"

	"github.com/sentinel-sre/sentinel/workload"
)

// Served is how a template served in one poll, for its health.
type Served int

const (
	// ServedUnknown: no verdict (no data, too little traffic, or a ratio
	// between healthy and failing). The healthy streak restarts.
	ServedUnknown Served = iota
	// ServedHealthy: enough traffic, at most the healthy failure ratio.
	ServedHealthy
	// ServedFailing: failing above the detection threshold. Health earned
	// before is lost: a revision is a rollback target only if the last
	// time it served it was healthy.
	ServedFailing
	// ServedElsewhere: the workload is judged per revision this poll
	// (RecordRevisionHealth); its workload-level record is left alone.
	ServedElsewhere
	// ServedDegraded: enough traffic, failing above the healthy ratio but
	// not above the threshold. The healthy streak restarts, and a template
	// degraded for as long as it takes to earn health loses it (a drain's
	// few 503s do not; a revision stuck at 40% does).
	ServedDegraded
)

type health struct {
	since    time.Time // start of the current healthy streak
	degraded time.Time // start of the current degraded streak
	healthy  bool      // earned, until the template fails
	// judged: a verdict (healthy, failing, degraded) was recorded live or
	// replayed by a warm-up; a look back never overrides one.
	judged bool
}

// record applies one poll's judgement at now; healthyFor is the streak a
// template needs to earn health.
func (h *health) record(now time.Time, s Served, healthyFor time.Duration) {
	h.judged = h.judged || s == ServedHealthy || s == ServedFailing || s == ServedDegraded
	switch s {
	case ServedHealthy:
		h.degraded = time.Time{}
		if h.since.IsZero() {
			h.since = now
		}
		if now.Sub(h.since) >= healthyFor {
			h.healthy = true
		}
	case ServedFailing:
		h.since, h.degraded, h.healthy = time.Time{}, time.Time{}, false
	case ServedDegraded:
		h.since = time.Time{}
		if h.degraded.IsZero() {
			h.degraded = now
		}
		if now.Sub(h.degraded) >= healthyFor {
			h.healthy = false
		}
	case ServedUnknown:
		h.since, h.degraded = time.Time{}, time.Time{}
	}
}

func (d *deployment) healthOf(fp string) *health {
	h := d.health[fp]
	if h == nil {
		h = &health{}
		d.health[fp] = h
	}
	return h
}

// RecordHealth records one workload-level judgement of every Deployment's
// current template at now (see Served). Only a rolled-out template is
// judged this way: while older ReplicaSets still run pods, the workload's
// metrics are mostly theirs (a stuck rollout of a crash-looping image
// must not earn the old pods' health). Per-revision metrics judge every
// revision by its own pods instead (RecordRevisionHealth).
func (t *Tracker) RecordHealth(now time.Time, judge func(workload.Ref) Served) {
	for w, d := range t.deployments {
		if d.fp == "" || !d.rolledOut() {
			continue
		}
		if s := judge(w); s != ServedElsewhere {
			d.healthOf(d.fp).record(now, s, t.opts.HealthyFor)
		}
	}
}

// WithHealthyRevision counts the Deployments one of whose templates is
// judged healthy now: those a failing change could be rolled back from.
func (t *Tracker) WithHealthyRevision() int {
	n := 0
	for _, d := range t.deployments {
		for _, h := range d.health {
			if h.healthy {
				n++
				break
			}
		}
	}
	return n
}

// RecordRevisionHealth records one judgement of the template of w's
// ReplicaSet rs, from its own pods' traffic, at now.
func (t *Tracker) RecordRevisionHealth(now time.Time, w workload.Ref, rs string, s Served) {
	d := t.deployments[w]
	if d == nil || d.rs[rs] == nil {
		return
	}
	d.healthOf(d.rs[rs].fp).record(now, s, t.opts.HealthyFor)
}

// RecordPastHealth is RecordHealth for a past instant (a warm-up on
// metrics history): the template judged is the one the Deployment ran at
// now as far as the changes seen tell — the newest made by then, else the
// one the oldest change seen replaced, taken as rolled out until that
// change.
func (t *Tracker) RecordPastHealth(now time.Time, judge func(workload.Ref) Served) {
	for w, d := range t.deployments {
		fp := d.templateAt(now, t.dict)
		if fp == "" || fp == d.fp && !d.rolledOut() {
			continue
		}
		if s := judge(w); s != ServedElsewhere {
			d.healthOf(fp).record(now, s, t.opts.HealthyFor)
		}
	}
}

// templateAt returns the fingerprint of the template the Deployment ran
// at t, as far as the changes seen tell; "" when they cannot.
func (d *deployment) templateAt(t time.Time, dict []byte) string {
	for i := len(d.changes) - 1; i >= 0; i-- {
		c := d.attributed(d.changes[i], dict)
		if !c.At.After(t) {
			return c.Fingerprint
		}
		if i == 0 && c.beforeFP != "" {
			return c.beforeFP
		}
	}
	if len(d.changes) == 0 {
		return d.fp
	}
	return ""
}

// Judged is one past judgement of a template, for LearnPastHealth.
type Judged struct {
	At     time.Time
	Served Served
}

// LearnPastHealth replays judgements of the template of w's ReplicaSet
// rs, oldest first, as if they had been watched (a look back at the
// metrics history when no rollback target is known), and marks the
// template healthy when they earn it: it was healthy the last time it
// served. A template this replica judged itself (Judged) keeps that
// verdict. It reports whether the judgements earned health.
func (t *Tracker) LearnPastHealth(w workload.Ref, rs string, judged []Judged) bool {
	if !t.Unjudged(w, rs) {
		return false
	}
	d := t.deployments[w]
	var h health
	for _, j := range judged {
		h.record(j.At, j.Served, t.opts.HealthyFor)
	}
	if h.healthy {
		d.healthOf(d.rs[rs].fp).healthy = true
	}
	return h.healthy
}

// Unjudged reports whether w's ReplicaSet rs exists and its template was
// never judged by this replica (live or in its warm-up): a look back may
// learn its health.
func (t *Tracker) Unjudged(w workload.Ref, rs string) bool {
	d := t.deployments[w]
	if d == nil || d.rs[rs] == nil {
		return false
	}
	h := d.health[d.rs[rs].fp]
	return h == nil || !h.judged
}
