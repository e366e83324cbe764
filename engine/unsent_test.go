package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/incident"
)

// noRoom refuses the first n actions as a full queue does, then accepts.
type noRoom struct {
	collect
	n int
}

func (r *noRoom) Notify(ctx context.Context, a incident.Action) error {
	if r.n > 0 {
		r.n--
		return fmt.Errorf("pagerduty queue is full: %w", incident.ErrNoRoom)
	}
	return r.collect.Notify(ctx, a)
}

// Actions the notifier had no room for are sent again at the next poll,
// in the order told, and those told meanwhile wait behind them: the page
// is not lost, nor the rollback's outcome, and the rollback is carried
// out once, not decided again.
func TestActionsRefusedForRoomAreSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refused int
	}{
		{"the page refused", 1},
		{"the page refused at two polls in a row, the rollback notice waiting behind it", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec := &executor{}
			notifier := &noRoom{n: tc.refused}
			e := runScenarioWith(t, notifier, "kubectl-set", exec, nil)
			want := []incident.Kind{incident.Page, incident.Rollback, incident.Resolve}
			if diff := cmp.Diff(want, kinds(notifier.actions)); diff != "" {
				t.Fatalf("actions delivered (-want +got):\n%s", diff)
			}
			if page, rb := notifier.actions[0], notifier.actions[1]; page.Incident != rb.Incident || !page.At.Equal(rb.At) {
				t.Errorf("the page sent again is of incident %s at %s, want the refused page of %s at %s",
					page.Incident, page.At, rb.Incident, rb.At)
			}
			if diff := cmp.Diff(1, len(exec.plans)); diff != "" {
				t.Errorf("rollbacks carried out (-want +got):\n%s", diff)
			}
			if notifier.n != 0 {
				t.Errorf("%d refusals left unasked", notifier.n)
			}
			if err := e.NotifyErr(); !errors.Is(err, incident.ErrNoRoom) {
				t.Errorf("notify error %v, want the refusal (incident.ErrNoRoom)", err)
			}
		})
	}
}
