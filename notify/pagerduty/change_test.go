package pagerduty

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// pushed is the change event of the out-of-band push behind pageRollback.
func pushed() incident.Action {
	return incident.ChangeOf(onset().Add(-2*time.Minute), *linkedChange("kubectl-set"), "", "")
}

// brokeGlass is a push past the admission guard, its user named.
func brokeGlass() incident.Action {
	c := linkedChange("kubectl-patch")
	c.ImagesAfter = images("hotfix-1")
	return incident.ChangeOf(onset().Add(-time.Minute), *c, "alice@example.com", "")
}

// sidecarPush changes one container of two.
func sidecarPush() incident.Action {
	c := linkedChange("argocd-controller")
	c.ImagesBefore = append(images("v1.4.2"), history.Image{Container: "fluentbit", Image: "fluent/fluent-bit:3.0"})
	c.ImagesAfter = append(images("v1.4.2"), history.Image{Container: "fluentbit", Image: "fluent/fluent-bit:3.1"})
	c.Fields = []string{"containers[fluentbit].image"}
	return incident.ChangeOf(onset().Add(-time.Minute), *c, "", "")
}

// changeHarness runs a pager with change events on.
func changeHarness(t *testing.T, fake *fakepd.Server, edit func(*Options)) *harness {
	return newHarness(t, fake.EnqueueURL(), func(o *Options) {
		o.Paging.PagerDuty.ChangeEvents = true
		if edit != nil {
			edit(o)
		}
	})
}

// actionsOf lists the requests PagerDuty answered, as event actions
// ("change" for a change event), in the order they arrived.
func actionsOf(fake *fakepd.Server) []string {
	var out []string
	for _, r := range fake.RequestLog() {
		out = append(out, r.Action)
	}
	return out
}

func TestChangeEventGolden(t *testing.T) {
	for _, tt := range []struct {
		name    string
		action  incident.Action
		cluster string
	}{
		{"change", pushed(), ""},
		{"change-break-glass", brokeGlass(), "prod-eu-1"},
		{"change-sidecar", sidecarPush(), ""},
		{"change-rollback", incident.RollbackChange(rolledBack()), "prod-eu-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakepd.New(t)
			h := changeHarness(t, fake, func(o *Options) {
				o.Paging.DashboardURL = dashboard
				o.Paging.ClusterName = tt.cluster
			})
			h.notify(tt.action)
			h.start()
			h.until("the change event delivered", func() bool { return h.sent(incident.Change) == 1 })
			if len(fake.ChangeEvents()) != 1 || len(fake.Events())+len(fake.Rejected()) != 0 {
				t.Fatalf("accepted %d change events, %d alert events, %d rejected; want the change event only",
					len(fake.ChangeEvents()), len(fake.Events()), len(fake.Rejected()))
			}
			got := golden(t, fake.ChangeEvents()[0].Raw)
			path := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notify/pagerduty -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("change event differs from %s (go test ./notify/pagerduty -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// With change_events off a change is dropped unsent, and its series are
// not created.
func TestChangeEventsOff(t *testing.T) {
	fake := fakepd.New(t)
	h := newHarness(t, fake.EnqueueURL(), nil)
	h.notify(pushed(), incident.RollbackChange(rolledBack()), pageRollback())
	h.start()
	h.events(fake, 1)
	if diff := cmp.Diff([]string{"trigger"}, actionsOf(fake)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "change" {
					t.Errorf("%s{kind=change} exists with change events off", mf.GetName())
				}
			}
		}
	}
}

// A change event never goes before an event that is ready: queued
// together, the page, its rollback and a notice go first.
func TestChangeEventsWaitForPages(t *testing.T) {
	fake := fakepd.New(t)
	h := changeHarness(t, fake, func(o *Options) { o.Paging.PagerDuty.DriftNotices = true })
	h.notify(pushed(), sidecarPush(), pageRollback(), rolledBack(), incident.RollbackChange(rolledBack()), drift())
	h.start()
	h.until("every event", func() bool { return len(fake.ChangeEvents()) == 3 && len(fake.Events()) == 4 })
	got := actionsOf(fake)
	last := 0
	for i, a := range got {
		if a != "change" {
			last = i
		}
	}
	if diff := cmp.Diff([]string{"change", "change", "change"}, got[last+1:]); diff != "" || last != 3 {
		t.Errorf("requests %v: want the page, rollback, drift notice and its resolve before every change event", got)
	}
	var summaries []string
	for _, ce := range fake.ChangeEvents() {
		summaries = append(summaries, ce.Payload.Summary)
	}
	want := []string{
		"shop/checkout: image changed by kubectl-set to checkout:v1.5.0",
		"shop/checkout: image changed by argocd-controller of container fluentbit from fluent-bit:3.0 to fluent-bit:3.1",
		"shop/checkout: sentinel rolled back from revision 7 (checkout:v1.5.0) to revision 6 (checkout:v1.4.2)",
	}
	if diff := cmp.Diff(want, summaries); diff != "" {
		t.Errorf("change events, in the order told (-want +got):\n%s", diff)
	}
}

// While a page waits out its backoff, change events go; a page told while
// a change event waits out its own goes at once.
func TestChangeEventsGoWhilePagesRest(t *testing.T) {
	fake := fakepd.New(t)
	fake.FailNext(1, http.StatusServiceUnavailable)
	h := changeHarness(t, fake, nil)
	h.notify(pageRollback(), pushed())
	h.start()
	h.waitFor("the change event sent while the page rests", func() bool { return len(fake.ChangeEvents()) == 1 })
	if n := len(fake.Events()); n != 0 {
		t.Fatalf("%d alert events accepted before the page's backoff ended", n)
	}
	h.until("the page", func() bool { return len(fake.Events()) == 1 })
	if diff := cmp.Diff([]string{"trigger", "change", "trigger"}, actionsOf(fake)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// A Retry-After answered to a change event holds change events only: a
// page told meanwhile is sent at once. One answered to a page holds
// change events too.
func TestChangeEventRetryAfterHoldsNoPage(t *testing.T) {
	t.Run("answered to a change event", func(t *testing.T) {
		fake := fakepd.New(t)
		fake.ThrottleNext(1, 10*time.Minute)
		h := changeHarness(t, fake, nil)
		h.start()
		h.notify(pushed())
		h.waitFor("the change event's retry planned", func() bool { return fake.Requests() == 1 && h.clock.HasWaiters() })
		h.notify(pageRollback())
		h.waitFor("the page, without the clock moving", func() bool { return len(fake.Events()) == 1 })
		if n := len(fake.ChangeEvents()); n != 0 {
			t.Fatalf("%d change events accepted within the Retry-After", n)
		}
		h.clock.Step(10 * time.Minute)
		h.waitFor("the change event after its wait", func() bool { return len(fake.ChangeEvents()) == 1 })
	})
	t.Run("answered to a page", func(t *testing.T) {
		fake := fakepd.New(t)
		fake.ThrottleNext(1, 30*time.Second)
		h := changeHarness(t, fake, nil)
		h.start()
		h.notify(pageRollback())
		h.waitFor("the page's retry planned", func() bool { return fake.Requests() == 1 && h.clock.HasWaiters() })
		h.notify(pushed())
		h.waitFor("both waiting", func() bool { return h.clock.Waiters() == 2 })
		h.clock.Step(29 * time.Second)
		if n := fake.Requests(); n != 1 {
			t.Fatalf("%d requests within the page's Retry-After, want 1", n)
		}
		h.clock.Step(time.Second)
		h.waitFor("both", func() bool { return len(fake.Events()) == 1 && len(fake.ChangeEvents()) == 1 })
		if diff := cmp.Diff([]string{"trigger", "trigger", "change"}, actionsOf(fake)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

// Change events are bounded apart from incidents: a full lane of change
// events refuses the next one (dropped, counted) and takes no page's
// room; a queue full of incidents takes none of theirs.
func TestChangeEventsBoundedApart(t *testing.T) {
	fake := fakepd.New(t)
	h := changeHarness(t, fake, func(o *Options) { o.Paging.PagerDuty.QueueSize = 2 })
	h.notify(pushed(), sidecarPush())
	err := h.p.Notify(t.Context(), brokeGlass())
	if !errors.Is(err, ErrChangesFull) || errors.Is(err, incident.ErrNoRoom) {
		t.Fatalf("Notify of a third change event, queue_size 2 = %v, want ErrChangesFull, not ErrNoRoom", err)
	}
	if !strings.Contains(err.Error(), "shop/checkout") {
		t.Errorf("error %q does not name the workload", err)
	}
	h.notify(pageRollback(), otherIncident(pageRollback()))
	if diff := cmp.Diff([]float64{1, 0, 4}, []float64{h.failed(incident.Change), h.failed(incident.Page), h.queued()}); diff != "" {
		t.Errorf("failed{change}, failed{page}, queue length (-want +got):\n%s", diff)
	}
	h.start()
	h.until("everything queued", func() bool { return len(fake.Events()) == 2 && len(fake.ChangeEvents()) == 2 })
}
