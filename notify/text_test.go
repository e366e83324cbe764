package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// The timeline names a page's cause the way every other rendering does,
// also when no field manager made it.
func TestTextNamesTheCause(t *testing.T) {
	at := time.Date(2026, 4, 24, 23, 50, 20, 0, time.UTC)
	for _, tt := range []struct{ manager, want string }{
		{"kubectl-set", "cause: revision 2 at 2026-04-24T23:49:00Z by kubectl-set (via Helm: false), changed containers[app].env"},
		{"", "cause: revision 2 at 2026-04-24T23:49:00Z by an unknown manager (via Helm: false), changed containers[app].env"},
	} {
		c := &history.Change{Revision: 2, At: at.Add(-80 * time.Second), Manager: tt.manager, Fields: []string{"containers[app].env"}}
		a := incident.Action{At: at, Kind: incident.Page, Workload: workload.Ref{Namespace: "shop", Name: "cart"}, Onset: at,
			Ratio: 0.9, Requests: 40, Cause: c, Decision: rollback.Decision{Reason: rollback.ReasonNotImageChange}}
		var b strings.Builder
		if err := (Text{W: &b}).Notify(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		var got string
		for _, line := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "cause:") {
				got = strings.TrimSpace(line)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("manager %q: cause line (-want +got):\n%s", tt.manager, diff)
		}
	}
}
