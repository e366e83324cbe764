package pagerduty

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// byKey lists the kinds of the accepted events per dedup key, in the
// order PagerDuty accepted them.
func byKey(t *testing.T, evs []fakepd.Event) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, ev := range evs {
		out[ev.DedupKey] = append(out[ev.DedupKey], kindsOf(t, []fakepd.Event{ev})...)
	}
	return out
}

// TestRefusedIncidentHoldsUpOnlyItself: PagerDuty refuses every event of
// one incident; another incident's events are delivered meanwhile, and
// once PagerDuty accepts again the refused incident's events follow in
// their order.
func TestRefusedIncidentHoldsUpOnlyItself(t *testing.T) {
	fake := fakepd.New(t)
	stuck, other := pageRollback(), otherIncident(pageRollback())
	stuckKey, otherKey := IncidentDedupKey(stuck.Incident), IncidentDedupKey(other.Incident)
	fake.Refuse(stuckKey, http.StatusInternalServerError)
	h := newHarness(t, fake.EnqueueURL(), nil)
	h.start()
	h.notify(stuck, rolledBack(), rollbackFailed())
	h.waitFor("the stuck page tried", func() bool { return fake.Requests() >= 1 })
	h.notify(other, otherIncident(rolledBack()))

	evs := h.events(fake, 2) // steps the clock: the stuck page is retried meanwhile
	if diff := cmp.Diff(map[string][]string{otherKey: {"page", "rollback"}}, byKey(t, evs)); diff != "" {
		t.Fatalf("accepted while one incident is refused (-want +got):\n%s", diff)
	}
	if h.logs.FilterMessage("pagerduty delivery failed; retrying").Len() == 0 {
		t.Fatal("the refused page was not retried")
	}

	fake.Accept(stuckKey)
	evs = h.events(fake, 5)
	want := map[string][]string{otherKey: {"page", "rollback"}, stuckKey: {"page", "rollback", "rollback_failed"}}
	if diff := cmp.Diff(want, byKey(t, evs)); diff != "" {
		t.Errorf("accepted, each incident in order (-want +got):\n%s", diff)
	}
}

// TestResolveCoalesces: a resolve replaces its incident's queued
// triggers, but not the one being sent.
func TestResolveCoalesces(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		fake := fakepd.New(t)
		h := newHarness(t, fake.EnqueueURL(), nil)
		h.notify(pageRollback(), rolledBack(), resolved())
		if got := h.queued(); got != 1 {
			t.Errorf("queue length %g, want 1: the resolve alone", got)
		}
		h.start()
		h.until("queue drained", func() bool { return h.queued() == 0 })
		want := map[string][]string{IncidentDedupKey(incidentID()): {"resolve"}}
		if diff := cmp.Diff(want, byKey(t, fake.Events())); diff != "" {
			t.Errorf("accepted (-want +got):\n%s", diff)
		}
	})
	t.Run("one being sent", func(t *testing.T) {
		fake := fakepd.New(t)
		key := IncidentDedupKey(incidentID())
		fake.Refuse(key, http.StatusServiceUnavailable)
		h := newHarness(t, fake.EnqueueURL(), nil)
		h.start()
		h.notify(pageRollback())
		h.waitFor("the page tried", func() bool { return fake.Requests() >= 1 })
		h.notify(rolledBack(), resolved())
		if got := h.queued(); got != 2 {
			t.Errorf("queue length %g, want 2: the page being sent and the resolve", got)
		}
		fake.Accept(key)
		h.until("queue drained", func() bool { return h.queued() == 0 })
		if diff := cmp.Diff(map[string][]string{key: {"page", "resolve"}}, byKey(t, fake.Events())); diff != "" {
			t.Errorf("accepted (-want +got):\n%s", diff)
		}
	})
}

// TestRetryAfterHonoured: after a 429 with Retry-After: 30, the next
// attempt waits 30 s on the clock, not the backoff's 1 s.
func TestRetryAfterHonoured(t *testing.T) {
	fake := fakepd.New(t)
	fake.ThrottleNext(1, 30*time.Second)
	h := newHarness(t, fake.EnqueueURL(), nil) // backoff: 1 s first
	h.notify(pageRollback())
	h.start()
	retrying := func() []observer.LoggedEntry {
		return h.logs.FilterMessage("pagerduty delivery failed; retrying").All()
	}
	h.waitFor("the retry planned", func() bool { return len(retrying()) == 1 && h.clock.HasWaiters() })
	if got := retrying()[0].ContextMap()["retry_in"]; got != 30*time.Second {
		t.Errorf("retry_in = %v, want 30s", got)
	}
	h.clock.Step(29 * time.Second)
	if !h.clock.HasWaiters() || fake.Requests() != 1 {
		t.Fatalf("after 29 s: waiting %v, %d requests; want still waiting after 1 request", h.clock.HasWaiters(), fake.Requests())
	}
	h.clock.Step(time.Second)
	if evs := h.events(fake, 1); evs[0].Action != "trigger" {
		t.Errorf("accepted %s, want the page", evs[0].Action)
	}
}

// TestRetryAfterHoldsEveryLane: a 429 with Retry-After: 30 on one
// incident's page holds another incident's page too, since PagerDuty
// limits the rate per routing key; both go out once the 30 s are over.
func TestRetryAfterHoldsEveryLane(t *testing.T) {
	fake := fakepd.New(t)
	fake.ThrottleNext(1, 30*time.Second)
	h := newHarness(t, fake.EnqueueURL(), nil)
	h.start()
	first, second := pageRollback(), otherIncident(pageRollback())
	h.notify(first)
	h.waitFor("the throttled page's retry planned", func() bool { return fake.Requests() == 1 && h.clock.HasWaiters() })
	h.notify(second)
	h.waitFor("both incidents waiting", func() bool { return h.clock.Waiters() == 2 })
	h.clock.Step(29 * time.Second)
	if n := fake.Requests(); n != 1 {
		t.Fatalf("%d requests 29 s after a 429 with Retry-After: 30, want 1", n)
	}
	h.clock.Step(time.Second)
	want := map[string][]string{IncidentDedupKey(first.Incident): {"page"}, IncidentDedupKey(second.Incident): {"page"}}
	if diff := cmp.Diff(want, byKey(t, h.events(fake, 2))); diff != "" {
		t.Errorf("accepted once the wait is over (-want +got):\n%s", diff)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"-5", 0},
		{"soon", 0},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestKindNames(t *testing.T) {
	var got []string
	for _, k := range append(incident.Kinds(), 0, 99) {
		got = append(got, k.String())
	}
	want := []string{"page", "rollback", "rollback_failed", "rollback_unverified", "resolve", "drift", "blind",
		"sighted", "rollback_reverted", "break_glass", "kind(0)", "kind(99)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind names (-want +got):\n%s", diff)
	}
}
