package incident

import (
	"cmp"
	"fmt"
	"time"

	"github.com/sentinel-sre/sentinel/history"
)

// BreakGlassNotice is the notice of c, an image change seen at at that
// was pushed past the admission guard for reason by the user by ("" when
// none was named): it names the field manager, the user and the reason.
func BreakGlassNotice(at time.Time, c history.Change, reason, by string) Action {
	return Action{At: at, Kind: BreakGlass, Workload: c.Workload, Cause: &c,
		Message: fmt.Sprintf("break glass: image changed to %s past the admission guard by %s (user %s): %s",
			ShortImages(c.ImagesAfter), c.By(), cmp.Or(by, "unnamed"), reason)}
}
