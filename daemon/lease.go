package daemon

import (
	"context"
	"sync"
	"time"

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
}

func newLeaseWatch(leases coordinationv1.LeaseInterface, name string, duration, retry time.Duration, clk clock.Clock) *leaseWatch {
	// Until it has read the Lease, a replica assumes a leader for one
	// lease duration, as a standby waiting to acquire it would.
	return &leaseWatch{leases: leases, name: name, duration: duration, gap: retry, clock: clk, renewedAt: clk.Now()}
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
	if err != nil || l.Spec.RenewTime == nil {
		return // unreadable or never held: nothing moved
	}
	w.mu.Lock()
	defer w.mu.Unlock()
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
