package daemon

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/clock"
)

// leaseWatch tells whether any replica is seen holding the leader Lease:
// it reads the Lease every retry period and notes when its renew time
// last moved. A replica that cannot read it (the API server is down), or
// sees it unrenewed for a lease duration (the leader is gone and nobody
// could take over), is leaderless: it pages and resolves by itself, so
// paging never depends on the control plane. Rollbacks still need the
// Lease.
type leaseWatch struct {
	leases        coordinationv1.LeaseInterface
	name          string
	duration, gap time.Duration
	clock         clock.Clock

	mu        sync.Mutex
	renewedAt time.Time        // this replica's clock when the renew time last moved
	renew     metav1.MicroTime // the renew time last read
	answered  time.Time        // this replica's clock when the API server last answered a read
}

func newLeaseWatch(leases coordinationv1.LeaseInterface, name string, duration, retry time.Duration, clk clock.Clock) *leaseWatch {
	// Until it has read the Lease, a replica assumes a leader for one
	// lease duration, as a standby waiting to acquire it would.
	// The API server answered the preflight just before.
	now := clk.Now()
	return &leaseWatch{leases: leases, name: name, duration: duration, gap: retry, clock: clk, renewedAt: now, answered: now}
}

// Run reads the Lease every retry period until ctx ends.
func (w *leaseWatch) Run(ctx context.Context) error {
	for {
		w.read(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-w.clock.After(w.gap):
		}
	}
}

func (w *leaseWatch) read(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, w.gap)
	defer cancel()
	l, err := w.leases.Get(rctx, w.name, metav1.GetOptions{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil || apierrors.IsNotFound(err) {
		w.answered = w.clock.Now()
	}
	if err != nil || l.Spec.RenewTime == nil {
		return // unreadable or never held: nothing moved
	}
	if !l.Spec.RenewTime.Equal(&w.renew) {
		w.renew, w.renewedAt = *l.Spec.RenewTime, w.clock.Now()
	}
}

// leaderless reports whether no renewal was seen for a lease duration.
func (w *leaseWatch) leaderless() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clock.Since(w.renewedAt) > w.duration
}

// silent returns when the API server last answered a read of the Lease,
// and whether that is longer than a lease duration ago: the cause a
// replica names when it is not ready.
func (w *leaseWatch) silent() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.answered, w.clock.Since(w.answered) > w.duration
}

// probe is silent for /readyz, or nil without a Lease watch (leader
// election off).
func (w *leaseWatch) probe() func() (time.Time, bool) {
	if w == nil {
		return nil
	}
	return w.silent
}
