package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// kindsOf names the accepted events by the kind in their details; a
// resolve has none.
func kindsOf(t *testing.T, evs []fakepd.Event) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		if ev.Payload == nil {
			out = append(out, "resolve")
			continue
		}
		var d struct{ Kind string }
		if err := json.Unmarshal(ev.Payload.CustomDetails, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Kind)
	}
	return out
}

// waitRequests waits for the fake to have received n requests.
func waitRequests(t *testing.T, fake *fakepd.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := fake.WaitRequests(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// checkStopped asserts that a drained pager holds nothing and queues
// nothing more.
func checkStopped(t *testing.T, h *harness) {
	t.Helper()
	if h.queued() != 0 {
		t.Errorf("queue length %g after Drain, want 0", h.queued())
	}
	if err := h.p.Notify(t.Context(), resolved()); !errors.Is(err, ErrStopped) {
		t.Errorf("Notify after Drain = %v, want ErrStopped", err)
	}
}

// drained is what a drained pager delivered and reported.
type drained struct {
	// Left is the count in the log line of undelivered events; 0 when
	// there is none.
	Left         int64
	Accepted     []string
	Sent, Failed map[string]float64
}

func drainedOf(t *testing.T, h *harness, fake *fakepd.Server, kinds []incident.Kind) drained {
	t.Helper()
	d := drained{Accepted: kindsOf(t, fake.Events()), Sent: map[string]float64{}, Failed: map[string]float64{}}
	for _, k := range kinds {
		d.Sent[k.String()], d.Failed[k.String()] = h.sent(k), h.failed(k)
	}
	for _, l := range h.logs.FilterMessage("pagerduty delivery stopped with undelivered events").All() {
		left, _ := l.ContextMap()["undelivered"].(int64)
		d.Left += left
	}
	return d
}

func TestDrain(t *testing.T) {
	// Three triggers: a resolve would replace the queued ones (coalescing).
	actions := []incident.Action{pageRollback(), rolledBack(), rollbackFailed()}
	inOrder := []incident.Kind{incident.Page, incident.Rollback, incident.RollbackFailed}
	tests := []struct {
		name string
		// fault is set on the fake before anything is sent.
		fault func(*fakepd.Server)
		// keepRunning leaves Run going: Drain must stop it.
		keepRunning bool
		deadline    time.Duration
		// wantLeft is how many events Drain leaves undelivered.
		wantLeft int
	}{
		{name: "slow PagerDuty, after Run", fault: func(s *fakepd.Server) { s.SlowNext(10, 200*time.Millisecond) },
			deadline: 2 * time.Second},
		{name: "slow PagerDuty, Run still going", fault: func(s *fakepd.Server) { s.SlowNext(10, 200*time.Millisecond) },
			keepRunning: true, deadline: 2 * time.Second},
		{name: "hanging PagerDuty", fault: func(s *fakepd.Server) { s.HangNext(100) },
			deadline: time.Second, wantLeft: 3},
		{name: "hanging PagerDuty, Run still going", fault: func(s *fakepd.Server) { s.HangNext(100) },
			keepRunning: true, deadline: time.Second, wantLeft: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakepd.New(t)
			tt.fault(fake)
			// Attempts get 1s, more than the slow fake's 200ms.
			h := newHarness(t, fake.EnqueueURL(), func(o *Options) { o.Paging.PagerDuty.Timeout = time.Second })
			h.notify(actions...)
			h.start()
			waitRequests(t, fake, 1) // the page is in flight
			if !tt.keepRunning {
				h.stop() // abandons the page's attempt
			}

			ctx, cancel := context.WithTimeout(t.Context(), tt.deadline)
			defer cancel()
			start := time.Now()
			err := h.p.Drain(ctx)
			took := time.Since(start)

			if tt.keepRunning {
				select {
				case err := <-h.done:
					h.cancel = nil
					if err != nil {
						t.Errorf("Run: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Run still going after Drain returned")
				}
			}
			want := drained{Accepted: []string{"page", "rollback", "rollback_failed"},
				Sent:   map[string]float64{"page": 1, "rollback": 1, "rollback_failed": 1},
				Failed: map[string]float64{"page": 0, "rollback": 0, "rollback_failed": 0}}
			if tt.wantLeft > 0 {
				want = drained{Left: int64(tt.wantLeft),
					Sent:   map[string]float64{"page": 0, "rollback": 0, "rollback_failed": 0},
					Failed: map[string]float64{"page": 1, "rollback": 1, "rollback_failed": 1}}
			}
			if diff := cmp.Diff(want, drainedOf(t, h, fake, inOrder)); diff != "" {
				t.Errorf("after Drain (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantLeft == 0 && err != nil:
				t.Errorf("Drain = %v, want nil", err)
			case tt.wantLeft == 0 && took >= tt.deadline:
				t.Errorf("Drain took %s, the whole deadline", took)
			case tt.wantLeft > 0 && (!errors.Is(err, context.DeadlineExceeded) ||
				!strings.Contains(err.Error(), fmt.Sprintf("%d events undelivered", tt.wantLeft))):
				t.Errorf("Drain = %v, want %d events undelivered: context deadline exceeded", err, tt.wantLeft)
			case tt.wantLeft > 0 && (took < tt.deadline || took > tt.deadline+2*time.Second):
				t.Errorf("Drain returned after %s, want just after its %s deadline", took, tt.deadline)
			}
			checkStopped(t, h)
		})
	}
}

// TestDrainKeepsQueueingAfterRun: events the engine sends between Run's
// end and Drain are delivered by Drain.
func TestDrainKeepsQueueingAfterRun(t *testing.T) {
	fake := fakepd.New(t)
	h := newHarness(t, fake.EnqueueURL(), nil)
	h.start()
	h.stop()
	h.notify(pageRollback(), rolledBack())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := h.p.Drain(ctx); err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if diff := cmp.Diff([]string{"page", "rollback"}, kindsOf(t, fake.Events())); diff != "" {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
}

func TestDrainWithoutRun(t *testing.T) {
	fake := fakepd.New(t)
	fake.FailNext(1, http.StatusServiceUnavailable)
	h := newHarness(t, fake.EnqueueURL(), nil)
	h.notify(pageRollback())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- h.p.Drain(ctx) }()
	// The retry after the 503 waits on the fake clock.
	h.until("the retry", func() bool { return len(fake.Events()) == 1 })
	if err := <-drained; err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if err := h.p.Run(t.Context()); !errors.Is(err, ErrStopped) {
		t.Errorf("Run after Drain = %v, want ErrStopped", err)
	}
}
