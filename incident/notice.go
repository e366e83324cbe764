package incident

import (
	"cmp"
	"fmt"
	"time"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
)

// BreakGlassNotice is the notice of c, an image change seen at at that
// was pushed past the admission guard for reason by the user by ("" when
// none was named): it names the field manager, the user and the reason.
func BreakGlassNotice(at time.Time, c history.Change, reason, by string) Action {
	return Action{At: at, Kind: BreakGlass, Workload: c.Workload, Cause: &c,
		Message: fmt.Sprintf("break glass: image changed to %s past the admission guard by %s (user %s): %s",
			ShortImages(c.ImagesAfter), c.By(), cmp.Or(by, "unnamed"), reason)}
}

// RevertedMessage says that c, an image change made rolledBack after
// sentinel's rollback of the same Deployment and within its cooldown,
// undid that rollback, and that sentinel will not fight it; for a GitOps
// controller, it says where the fix belongs.
func RevertedMessage(c history.Change, rolledBack time.Time) string {
	msg := fmt.Sprintf("%s changed the image to %s after sentinel's rollback at %s; not rolling back again",
		c.By(), ShortImages(c.ImagesAfter), rolledBack.UTC().Format("15:04:05"))
	if _, gitops := rollback.GitOpsController(c.Manager); gitops {
		msg += ": managed by " + c.Manager + ": revert it in Git"
	}
	return msg
}
