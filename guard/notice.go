package guard

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
)

// BreakGlassNotice is the low-urgency notice for an image change that
// broke glass: the change c of d (observed at at) carries a break-glass
// reason that differs from before, the reason sentinel saw on the
// Deployment until then — the same test the policy makes, so a reason
// left from an earlier emergency is not reported again. It names the
// field manager and the user (checked by the API server when the guard
// is installed) and the reason.
func BreakGlassNotice(before string, d *appsv1.Deployment, c history.Change, at time.Time) (incident.Action, bool) {
	reason := strings.TrimSpace(d.Annotations[BreakGlassAnnotation])
	if !c.ImageChanged || reason == "" || reason == strings.TrimSpace(before) {
		return incident.Action{}, false
	}
	by := strings.TrimSpace(d.Annotations[BreakGlassByAnnotation])
	if by == "" {
		by = "unnamed"
	}
	manager := c.Manager
	if manager == "" {
		manager = "an unknown manager"
	}
	return incident.Action{At: at, Kind: incident.BreakGlass, Workload: c.Workload, Cause: &c,
		Message: fmt.Sprintf("break glass: image changed to %s past the admission guard by %s (user %s): %s",
			incident.ShortImages(c.ImagesAfter), manager, by, reason)}, true
}
