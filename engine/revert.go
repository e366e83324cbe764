package engine

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
)

// revertedRollback reports, on the open incident, an image change made
// within the cooldown of sentinel's rollback of the same Deployment — a
// GitOps controller syncing the old image back, or a person redoing the
// change. sentinel never fights it: the incident already had its rollback
// and the cooldown holds; the on-call is told what happened and, for a
// GitOps controller, where the fix belongs. Called with the lock held.
func (e *Engine) revertedRollback(d *appsv1.Deployment, c history.Change, at time.Time) {
	if !c.ImageChanged || c.Manager == rollback.FieldManager {
		return
	}
	rolledBack, err := time.Parse(time.RFC3339, d.Annotations[rollback.AnnotationRolledBackAt])
	if err != nil || at.Sub(rolledBack) >= e.cfg.Rollback.Cooldown || at.Before(rolledBack) {
		return
	}
	oi, ok := e.open[c.Workload]
	if !ok {
		return
	}
	n := e.action(incident.RollbackReverted, oi.firing)
	n.At, n.Cause, n.Message = at, &c, incident.RevertedMessage(c, rolledBack)
	e.pending = append(e.pending, n)
}
