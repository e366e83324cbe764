package guard

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/history"
)

// BreakGlass is an image change made past the guard in an emergency.
type BreakGlass struct {
	// Reason is the BreakGlassAnnotation's value.
	Reason string
	// By is the BreakGlassByAnnotation's value: the user, checked by the
	// API server while the guard is installed; "" when none is named.
	By string
}

// BrokeGlass reports whether the change c of d broke glass: it changed an
// image, and d carries a break-glass reason other than before, the one
// sentinel saw on the Deployment until then. That is the test the policy
// makes, so a reason left from an earlier emergency is not reported again.
func BrokeGlass(before string, d *appsv1.Deployment, c history.Change) (BreakGlass, bool) {
	reason := strings.TrimSpace(d.Annotations[BreakGlassAnnotation])
	if !c.ImageChanged || reason == "" || reason == strings.TrimSpace(before) {
		return BreakGlass{}, false
	}
	return BreakGlass{Reason: reason, By: strings.TrimSpace(d.Annotations[BreakGlassByAnnotation])}, true
}
