package history

import (
	"time"

	"github.com/sentinel-sre/sentinel/workload"
)

// Changes returns w's template changes made in [from, to], oldest first,
// attributed (who made them, what they changed) and with the revision
// each created where its ReplicaSet is known.
func (t *Tracker) Changes(w workload.Ref, from, to time.Time) []Change {
	d := t.deployments[w]
	if d == nil {
		return nil
	}
	var out []Change
	for _, c := range d.changes {
		if !c.attributed {
			d.attributeFirstSight(c, t.dict)
		}
		if c.At.Before(from) || c.At.After(to) {
			continue
		}
		// Known ReplicaSets may have arrived since the change was seen.
		if rev := d.revisionOf(c.Fingerprint); rev != 0 {
			c.Revision = rev
		}
		out = append(out, c.Change)
	}
	return out
}
