package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/incident"
)

// noRoomOnce refuses the first page as a full queue does, then accepts.
type noRoomOnce struct {
	collect
	refused int
}

func (n *noRoomOnce) Notify(ctx context.Context, a incident.Action) error {
	if a.Kind == incident.Page && n.refused == 0 {
		n.refused++
		return fmt.Errorf("pagerduty queue is full: %w", incident.ErrNoRoom)
	}
	return n.collect.Notify(ctx, a)
}

// A page the notifier had no room for is sent again at the next poll,
// as it was; its rollback goes ahead once, not decided again.
func TestPageRefusedForRoomIsSentAgain(t *testing.T) {
	exec := &executor{}
	notifier := &noRoomOnce{}
	e := runScenarioWith(t, notifier, "kubectl-set", exec, nil)
	want := []incident.Kind{incident.Rollback, incident.Page, incident.Resolve}
	if diff := cmp.Diff(want, kinds(notifier.actions)); diff != "" {
		t.Fatalf("actions delivered (-want +got):\n%s", diff)
	}
	rb, page := notifier.actions[0], notifier.actions[1]
	if page.Incident != rb.Incident || !page.At.Equal(rb.At) {
		t.Errorf("the page sent again is of incident %s at %s, want the refused page of %s at %s",
			page.Incident, page.At, rb.Incident, rb.At)
	}
	if diff := cmp.Diff(1, len(exec.plans)); diff != "" {
		t.Errorf("rollbacks carried out (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(1, e.Stats().NotifyErrors); diff != "" {
		t.Errorf("notify errors (-want +got):\n%s", diff)
	}
}
