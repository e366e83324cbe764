package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
)

// skipClock is a fake clock whose waits pass at once, moving it on.
type skipClock struct{ *testingclock.FakeClock }

func (c skipClock) After(d time.Duration) <-chan time.Time {
	c.Step(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// flaky fails its first attempts with err, then succeeds; it records
// whether each attempt had a deadline.
type flaky struct {
	executor
	fails     int
	err       error
	deadlines []bool
}

func (f *flaky) Rollback(ctx context.Context, p *rollback.Plan) error {
	_, ok := ctx.Deadline()
	f.deadlines = append(f.deadlines, ok)
	f.plans = append(f.plans, p)
	if len(f.plans) <= f.fails {
		return f.err
	}
	return nil
}

func TestRollbackAttempts(t *testing.T) {
	transient := &rollback.RetryableError{Err: errors.New("http2: client connection lost")}
	cases := []struct {
		name         string
		fails        int
		err          error
		wantAttempts int
		wantKinds    []incident.Kind
		wantNotice   string
	}{{
		name: "transient errors are retried until the rollback is done", fails: 3, err: transient,
		wantAttempts: 4, wantKinds: []incident.Kind{incident.Page, incident.Rollback, incident.Resolve},
	}, {
		name: "a final error is reported at once", fails: 1, err: errors.New("forbidden"),
		wantAttempts: 1, wantKinds: []incident.Kind{incident.Page, incident.RollbackFailed, incident.Resolve},
		wantNotice: "rollback to revision 1 not done: forbidden",
	}, {
		name: "transient errors past rollback_timeout are reported as not done", fails: 1000, err: transient,
		// Backoff 1s, 2s, … capped at 30s, with jitter: about 13 attempts.
		wantAttempts: -1, wantKinds: []incident.Kind{incident.Page, incident.RollbackFailed, incident.Resolve},
		wantNotice: "rollback to revision 1 not done: gave up after %d attempts in 5m0s: http2: client connection lost",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exec := &flaky{fails: tc.fails, err: tc.err}
			clk := skipClock{testingclock.NewFakeClock(t0)}
			out, _ := runScenario(t, "kubectl-set", exec, nil, WithClock(clk))
			if got := len(exec.plans); got != tc.wantAttempts && (tc.wantAttempts >= 0 || got < 10 || got > 16) {
				t.Errorf("%d attempts, want %d", got, tc.wantAttempts)
			}
			if tc.wantAttempts < 0 {
				tc.wantNotice = fmt.Sprintf(tc.wantNotice, len(exec.plans))
			}
			for i, ok := range exec.deadlines {
				if !ok {
					t.Errorf("attempt %d without a deadline", i+1)
				}
			}
			if diff := cmp.Diff(tc.wantKinds, kinds(out.actions)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if tc.wantNotice != "" && len(out.actions) > 1 && out.actions[1].Message != tc.wantNotice {
				t.Errorf("notice %q, want %q", out.actions[1].Message, tc.wantNotice)
			}
		})
	}
}
