package engine

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The replica's mode for a poll: a warm-up never pages, the leader does
// everything, a replica that sees no leader pages only.
func TestPollMode(t *testing.T) {
	yes, no := func() bool { return true }, func() bool { return false }
	for _, tc := range []struct {
		warming        bool
		active, paging func() bool
		want           mode
		mayPage, leads bool
	}{
		{warming: true, active: yes, paging: yes, want: warmingUp},
		{active: yes, paging: no, want: leading, mayPage: true, leads: true},
		{active: yes, want: leading, mayPage: true, leads: true},
		{active: no, paging: yes, want: pagingWithoutLease, mayPage: true},
		{active: no, paging: no, want: standingBy},
		{active: no, want: standingBy},
	} {
		m := pollMode(tc.warming, tc.active, tc.paging)
		got := fmt.Sprintf("%s mayPage=%v leads=%v", m, m.mayPage(), m.leads())
		want := fmt.Sprintf("%s mayPage=%v leads=%v", tc.want, tc.mayPage, tc.leads)
		if got != want {
			t.Errorf("warming=%v active=%v paging=%v: got %s, want %s", tc.warming, tc.active != nil && tc.active(),
				tc.paging != nil && tc.paging(), got, want)
		}
	}
}

// Every transition of an incident's announcement, and at which polls it
// is announced.
func TestAnnouncementTransitions(t *testing.T) {
	all := []announcement{unannounced, announced, awaitingLease, targetFound}
	next := map[announcement]map[announceEvent]announcement{
		unannounced:   {paged: announced, pagedWithoutLease: awaitingLease, lookBackFound: unannounced},
		announced:     {paged: announced, pagedWithoutLease: awaitingLease, lookBackFound: targetFound},
		awaitingLease: {paged: announced, pagedWithoutLease: awaitingLease, lookBackFound: awaitingLease},
		targetFound:   {paged: announced, pagedWithoutLease: awaitingLease, lookBackFound: targetFound},
	}
	// due lists the modes whose polls announce it.
	due := map[announcement][]mode{
		unannounced:   {leading, pagingWithoutLease},
		announced:     nil,
		awaitingLease: {leading},
		targetFound:   {leading},
	}
	for _, a := range all {
		for ev, want := range next[a] {
			if got := a.next(ev); got != want {
				t.Errorf("%s after %s: %s, want %s", a, ev, got, want)
			}
		}
		var got []mode
		for _, m := range []mode{warmingUp, standingBy, leading, pagingWithoutLease} {
			if a.due(m) {
				got = append(got, m)
			}
		}
		if diff := cmp.Diff(due[a], got); diff != "" {
			t.Errorf("%s announced in modes (-want +got):\n%s", a, diff)
		}
	}
}
