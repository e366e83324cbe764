package history

import (
	"time"

	"github.com/sentinel-sre/sentinel/workload"
)

// ReplicaSet names a revision the way per-revision metrics can: by the
// ReplicaSet's name or its pod-template-hash.
type ReplicaSet struct {
	Name     string
	Hash     string
	Revision int64
	// Current: it runs the Deployment's current template.
	Current bool
}

// ReplicaSetOf resolves a revision as the metrics name it — a
// pod-template-hash, or a ReplicaSet name (taken from a pod name) — to
// one of w's ReplicaSets.
func (t *Tracker) ReplicaSetOf(w workload.Ref, key string) (ReplicaSet, bool) {
	d := t.deployments[w]
	if d == nil || key == "" {
		return ReplicaSet{}, false
	}
	if r := d.rs[key]; r != nil {
		return d.replicaSet(r), true
	}
	for _, r := range d.rs {
		if r.hash == key {
			return d.replicaSet(r), true
		}
	}
	return ReplicaSet{}, false
}

func (d *deployment) replicaSet(r *replicaSet) ReplicaSet {
	return ReplicaSet{Name: r.name, Hash: r.hash, Revision: r.revision, Current: r.fp == d.fp}
}

// Rollout is what detection needs to know of a Deployment's rollout now.
type Rollout struct {
	// Replicas is the desired count, Available what the status reports.
	Replicas, Available int32
	// StatusKnown: the Deployment controller has written a status (a
	// recording without status leaves Available unknown, not zero).
	StatusKnown bool
	// ChangedAt is when the newest template change seen was made; zero
	// when none was seen since sentinel started watching.
	ChangedAt time.Time
}

// Rollout returns what is known of w's rollout.
func (t *Tracker) Rollout(w workload.Ref) (Rollout, bool) {
	d := t.deployments[w]
	if d == nil || d.state == nil {
		return Rollout{}, false
	}
	r := Rollout{Replicas: d.state.replicas, Available: d.state.available, StatusKnown: d.state.observedGeneration > 0}
	// The template a Deployment had when first seen is a change only if
	// an older revision shows what it replaced.
	if n := len(d.changes); n > 0 {
		if c := d.attributed(d.changes[n-1], t.dict); c.beforeFP != "" {
			r.ChangedAt = c.At
		}
	}
	return r, true
}
