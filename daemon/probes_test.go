package daemon

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
)

// /readyz names every dependency that stopped answering, so an API
// server outage is never blamed on the metrics source, nor the reverse.
func TestReadyNamesTheCause(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Metrics.Source = "prometheus"
	cfg.Detection.PollInterval = 15 * time.Second
	lastAnswered := now.Add(-time.Minute)
	for _, tc := range []struct {
		name      string
		apiSilent bool
		noLease   bool // without leader election: no API server probe
		sourceAt  time.Time
		warming   bool // the engine loop has not started: warming up
		want      string
	}{
		{name: "both answer", sourceAt: now.Add(-20 * time.Second), want: ""},
		{name: "warming up", warming: true, sourceAt: now.Add(-20 * time.Second),
			want: "warming up: replaying run.warm_up of metrics history before the first poll"},
		{name: "without leader election", noLease: true, sourceAt: now.Add(-20 * time.Second), want: ""},
		{name: "API server down", apiSilent: true, sourceAt: now.Add(-20 * time.Second),
			want: "the API server has not answered since 2026-12-01T11:59:00Z: pages go out without the Lease, rollbacks wait for it"},
		{name: "source down", sourceAt: now.Add(-time.Minute),
			want: "the metrics source (prometheus) has not answered since 2026-12-01T11:59:00Z: connection refused"},
		{name: "both down", apiSilent: true, sourceAt: now.Add(-time.Minute),
			want: "the API server has not answered since 2026-12-01T11:59:00Z: pages go out without the Lease, rollbacks wait for it\n" +
				"the metrics source (prometheus) has not answered since 2026-12-01T11:59:00Z: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &probes{cfg: cfg, clock: testingclock.NewFakePassiveClock(now), synced: func() bool { return true },
				engine: engine.New(cfg, nil, nil, nil, zap.NewNop()), // no poll yet: live since it started
				source: &lastAnswer{at: tc.sourceAt, err: errors.New("connection refused")}}
			if !tc.noLease {
				p.api = func() (time.Time, bool) { return lastAnswered, tc.apiSilent }
			}
			if !tc.warming {
				p.started.Store(now.Add(-time.Minute).UnixNano())
			}
			got := ""
			if err := p.ready(); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ready (-want +got):\n%s", diff)
			}
		})
	}
}

// The Lease watch tells when the API server last answered it: a Lease
// not found is an answer; an unreachable server is not, and after a lease
// duration of that the watch reports the server silent.
func TestLeaseWatchSilent(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(start)
	client := fake.NewClientset() // no Lease: NotFound
	w := newLeaseWatch(client.CoordinationV1().Leases("sentinel"), "sentinel", 15*time.Second, 2*time.Second, clk)
	type answer struct {
		At     time.Time
		Silent bool
	}
	var got []answer
	step := func(d time.Duration) {
		clk.Step(d)
		w.read(t.Context())
		at, silent := w.silent()
		got = append(got, answer{at, silent})
	}
	step(10 * time.Second) // NotFound: answered
	client.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	step(10 * time.Second) // unreachable for 10 s
	step(10 * time.Second) // 20 s: silent
	want := []answer{
		{start.Add(10 * time.Second), false},
		{start.Add(10 * time.Second), false},
		{start.Add(10 * time.Second), true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("silent (-want +got):\n%s", diff)
	}
	var none *leaseWatch // leader election off
	if none.probe() != nil {
		t.Error("without a Lease watch /readyz has an API server probe, want none")
	}
}
