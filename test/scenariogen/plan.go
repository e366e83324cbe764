package scenariogen

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// replicaSet is one ReplicaSet of a workload: a pod template it ran.
type replicaSet struct {
	name, hash, uid string
	image           string
	created         time.Time
}

// epoch is one period during which a ReplicaSet runs all of the
// Deployment's pods: from a creation or template change until the next.
type epoch struct {
	rs         *replicaSet
	revision   int64
	generation int64
	at         time.Time // the creation or change that began it
	manager    string
	reused     bool // an older ReplicaSet scaled back up (rollout undo)
	// from and until bound when the epoch's pods serve, [from, until);
	// until is zero for the last epoch.
	from, until time.Time
}

// plan works out a workload's ReplicaSets and epochs.
func (w *Workload) plan() ([]epoch, error) {
	spec, opts := w.spec, w.s.opts
	var (
		epochs []epoch
		rss    []*replicaSet
	)
	newRS := func(image string, at time.Time) *replicaSet {
		h := templateHash(spec, image, rss)
		rs := &replicaSet{name: spec.Name + "-" + h, hash: h, image: image, created: at,
			uid: uid(opts.Seed, "ReplicaSet", spec.Namespace, spec.Name+"-"+h)}
		rss = append(rss, rs)
		return rs
	}
	epochs = append(epochs, epoch{rs: newRS(spec.Image, spec.Created), revision: 1, generation: 1,
		at: spec.Created, manager: spec.Manager, from: spec.Created.Add(opts.RolloutDelay)})
	for _, c := range w.changes {
		cur := &epochs[len(epochs)-1]
		next := epoch{revision: cur.revision + 1, generation: cur.generation + 1, at: c.at,
			manager: c.manager, from: c.at.Add(opts.RolloutDelay)}
		image := c.image
		if c.undoTo != 0 {
			// The ReplicaSet whose latest revision is undoTo.
			i := slices.IndexFunc(epochs, func(e epoch) bool { return e.revision == c.undoTo })
			if i < 0 || epochs[i].rs == cur.rs || latestRevision(epochs, epochs[i].rs) != c.undoTo {
				return nil, fmt.Errorf("workload %s: rollout undo at %s: no earlier revision %d to restore",
					w.id(), c.at.Format(time.RFC3339), c.undoTo)
			}
			image = epochs[i].rs.image
		}
		if image == cur.rs.image {
			return nil, fmt.Errorf("workload %s: change at %s: image %s is already running",
				w.id(), c.at.Format(time.RFC3339), image)
		}
		// Kubernetes reuses the ReplicaSet whose template matches.
		if i := slices.IndexFunc(rss, func(r *replicaSet) bool { return r.image == image }); i >= 0 {
			next.rs, next.reused = rss[i], true
		} else {
			next.rs = newRS(image, c.at)
		}
		cur.until = next.from
		epochs = append(epochs, next)
	}
	return epochs, nil
}

func latestRevision(epochs []epoch, rs *replicaSet) int64 {
	var r int64
	for _, e := range epochs {
		if e.rs == rs {
			r = e.revision
		}
	}
	return r
}

// pod is one pod of an epoch.
type pod struct {
	name     string
	hash     string // its ReplicaSet's pod-template-hash
	id       uint64
	revision int64
	// from and until bound when it serves, [from, until); until zero: to
	// the end of the recording.
	from, until time.Time
}

// pods lists the pods of every epoch, each epoch's pods fresh (new names,
// counters from zero), as a rollout creates them.
func (w *Workload) pods(epochs []epoch) []pod {
	var out []pod
	for i, e := range epochs {
		for j := range w.spec.Replicas {
			name := e.rs.name + "-" + safeEncode(mix(w.s.opts.Seed, hashString(e.rs.name), uint64(i), uint64(j)), 5)
			from, until := e.from, e.until
			// A rolling update replaces pod j a step after pod j-1.
			if i > 0 {
				from = from.Add(w.stagger(j))
			}
			if !until.IsZero() {
				until = until.Add(w.stagger(j))
			}
			out = append(out, pod{name: name, hash: e.rs.hash, id: hashString(w.spec.Namespace + "/" + name),
				revision: e.revision, from: from, until: until})
		}
	}
	slices.SortFunc(out, func(a, b pod) int { return strings.Compare(a.name, b.name) })
	return out
}

// stagger is how long after a change's first new pod its pod j serves
// (and the old pod j stops): zero unless the workload rolls.
func (w *Workload) stagger(j int32) time.Duration {
	return time.Duration(j) * w.spec.RollingStep
}

// templateHash is the pod-template-hash the Deployment controller gives
// the ReplicaSet of image: an FNV-32a hash of the template, bumped like
// the controller's collisionCount should two templates of the workload
// collide, written in Kubernetes' safe alphabet.
func templateHash(spec WorkloadSpec, image string, taken []*replicaSet) string {
	b, _ := json.Marshal(podTemplate(spec, image, "")) // a PodTemplateSpec always marshals
	for collisions := 0; ; collisions++ {
		h := fnv.New32a()
		h.Write(b)
		if collisions > 0 {
			fmt.Fprint(h, collisions)
		}
		s := safeEncodeDecimal(h.Sum32())
		if !slices.ContainsFunc(taken, func(r *replicaSet) bool { return r.hash == s }) {
			return s
		}
	}
}
