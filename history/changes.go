package history

import (
	"time"

	"github.com/sentinel-sre/sentinel/workload"
)

// Changes returns w's template changes made in [from, to], oldest first,
// attributed (who made them, what they changed) and with the revision
// each created where its ReplicaSet is known. It only reads: a first
// sight not yet settled by Attribute is attributed afresh on each call.
func (t *Tracker) Changes(w workload.Ref, from, to time.Time) []Change {
	d := t.deployments[w]
	if d == nil {
		return nil
	}
	var out []Change
	for _, c := range d.changes {
		c := d.attributed(c, t.dict)
		if c.At.Before(from) || c.At.After(to) {
			continue
		}
		ch := c.Change
		if rev := d.revisionOf(c.Fingerprint); rev != 0 {
			ch.Revision = rev
		}
		out = append(out, ch)
	}
	return out
}

// Attribute settles who made, and what changed in, the template each
// Deployment had when first seen, against the ReplicaSets known now, and
// lets go of the template it kept for that. Call it once the older
// ReplicaSets a first sight is compared with may be known: the engine
// does at the start of every poll, after the informers have listed.
func (t *Tracker) Attribute() {
	for _, w := range t.firstSights {
		d := t.deployments[w]
		if d == nil {
			continue // deleted since
		}
		for _, c := range d.changes {
			if !c.attributed {
				*c = d.attributeFirstSight(c, t.dict)
			}
		}
	}
	clear(t.firstSights)
	t.firstSights = t.firstSights[:0]
}

// attributed is c as the reads see it: attributed, or, for a first sight
// Attribute has not settled, a copy attributed now.
func (d *deployment) attributed(c *change, dict []byte) *change {
	if c.attributed {
		return c
	}
	a := d.attributeFirstSight(c, dict)
	return &a
}
