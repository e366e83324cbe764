package incident

import (
	"fmt"
	"time"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
)

// ChangeOf is the Change action of c, an image change seen at at; user
// is who made it where something checked tells ("" when unknown).
func ChangeOf(at time.Time, c history.Change, user, runbook string) Action {
	return Action{At: at, Kind: Change, Workload: c.Workload, Cause: &c, User: user, RunbookURL: runbook}
}

// RollbackChange is the Change action of rb, a rollback sentinel wrote:
// its field manager changed the images from the plan's revision to its
// target's, for rb's incident.
func RollbackChange(rb Action) Action {
	p := rb.Plan
	if p == nil {
		return Action{At: rb.At, Kind: Change, Workload: rb.Workload, Incident: rb.Incident, RunbookURL: rb.RunbookURL}
	}
	c := &history.Change{Workload: rb.Workload, At: rb.At, Manager: rollback.FieldManager, ImageChanged: true,
		ImagesBefore: p.FromImages, ImagesAfter: p.ToImages, Fields: []string{}}
	for _, ic := range ImageChanges(p.FromImages, p.ToImages) {
		c.Fields = append(c.Fields, fmt.Sprintf("containers[%s].image", ic.Container))
	}
	return Action{At: rb.At, Kind: Change, Workload: rb.Workload, Incident: rb.Incident, Cause: c, Plan: p,
		RunbookURL: rb.RunbookURL}
}

// changeText is a change's summary after the workload: who changed the
// image to what, or which rollback sentinel wrote.
func changeText(a Action) string {
	if a.Plan != nil {
		return rollback.FieldManager + " " + rollbackText(a.Plan)
	}
	c := a.Cause
	if c == nil {
		return "image changed"
	}
	s := "image changed by " + c.By()
	if a.User != "" {
		s += " (user " + a.User + ")"
	}
	return s + describeImages(c.ImagesBefore, c.ImagesAfter)
}
