package pager

import (
	"errors"
	"sync"
)

var (
	// ErrQueueFull is returned by Notify when paging.pagerduty.queue_size
	// events already wait for delivery. The event is not queued.
	ErrQueueFull = errors.New("pagerduty queue is full")
	// ErrStopped is returned by Notify once Drain has stopped the pager,
	// and by Run when called after Drain.
	ErrStopped = errors.New("pagerduty delivery has stopped")
)

// queue is a bounded FIFO of events. The head stays in the queue while it
// is being delivered, so it counts against the bound and is reported if
// delivery stops before it succeeds.
type queue struct {
	mu     sync.Mutex
	items  []pending
	max    int
	closed bool
	// ready has a token whenever an event was pushed since the consumer
	// last looked.
	ready chan struct{}
}

func newQueue(max int) *queue {
	return &queue{max: max, ready: make(chan struct{}, 1)}
}

// push appends e and returns the new length.
func (q *queue) push(e pending) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return len(q.items), ErrStopped
	case len(q.items) >= q.max:
		return len(q.items), ErrQueueFull
	}
	q.items = append(q.items, e)
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return len(q.items), nil
}

// head returns the oldest event without removing it.
func (q *queue) head() (pending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return pending{}, false
	}
	return q.items[0], true
}

// replaceHead puts e in the head's place, so it is delivered next and
// keeps the head's place against the bound.
func (q *queue) replaceHead(e pending) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		q.items[0] = e
	}
}

// pop removes the head and returns the new length.
func (q *queue) pop() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		q.items[0] = pending{}
		q.items = q.items[1:]
	}
	return len(q.items)
}

// close refuses further pushes and returns what was left undelivered.
func (q *queue) close() []pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	left := q.items
	q.items = nil
	return left
}
