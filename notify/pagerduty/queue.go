package pagerduty

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/sentinel-sre/sentinel/incident"
)

var (
	// ErrQueueFull is returned by Notify when paging.pagerduty.queue_size
	// incidents already have events waiting for delivery and the event
	// would open another. The event is not queued (the engine sends a
	// page refused so again at its next poll: it wraps
	// incident.ErrNoRoom). A resolve is never refused.
	ErrQueueFull = fmt.Errorf("pagerduty queue is full: %w", incident.ErrNoRoom)
	// ErrStopped is returned by Notify once Drain has stopped the pager,
	// and by Run when called after Drain.
	ErrStopped = errors.New("pagerduty delivery has stopped")
	// ErrChangesFull is returned by Notify when paging.pagerduty.queue_size
	// change events already wait for delivery: the change event is
	// dropped, as change events never take a page's room.
	ErrChangesFull = errors.New("pagerduty change event queue is full: change event dropped")
)

// queue holds the events waiting for delivery in one lane per dedup key:
// one incident, one drift notice, one blind spell. Each lane is delivered
// in order by its own goroutine while delivery runs, so an event
// PagerDuty keeps refusing holds up only its own incident, as
// Alertmanager runs one aggregation group per goroutine.
//
// It coalesces by dedup key: a resolve replaces the triggers of its lane
// that are not yet being sent (the alert is over before they could
// tell of it). Its bound is in lanes, so in incidents, not events; a
// resolve is queued even beyond the bound, since dropping it would leave
// an alert open for good.
//
// Change events, which have no dedup key, share one lane (changeLane),
// bounded apart in events, so they never take an incident's room; their
// goroutine waits for the other lanes (urgent).
type queue struct {
	max int
	// deliver delivers one lane, from its goroutine.
	deliver func(ctx context.Context, key string)
	length  func(int)

	mu     sync.Mutex
	lanes  map[string]*lane
	events int
	seq    uint64
	closed bool
	// ctx is what lanes are delivered under while delivery runs; nil
	// when it does not.
	ctx context.Context
	// running counts the lanes' goroutines; idle is closed (and
	// replaced) whenever one returns.
	running int
	idle    chan struct{}
	// stirred is closed (and replaced) whenever what urgent reports may
	// have changed.
	stirred chan struct{}
}

// lane is the queued events of one dedup key, oldest first. While active,
// its goroutine is sending the head; while resting, it waits out a
// backoff before sending it again.
type lane struct {
	events  []queuedEvent
	active  bool
	resting bool
}

// newQueue returns a queue of at most max incidents (and max change
// events) whose lanes deliver delivers; length is told every new count of
// queued events, under the queue's lock, so counts are told in order.
func newQueue(max int, deliver func(ctx context.Context, key string), length func(int)) *queue {
	return &queue{max: max, deliver: deliver, length: length, lanes: map[string]*lane{}, idle: make(chan struct{}),
		stirred: make(chan struct{})}
}

// stir wakes whoever waits on urgent; q.mu is held.
func (q *queue) stir() {
	close(q.stirred)
	q.stirred = make(chan struct{})
}

// urgent reports whether an event other than a change event is ready to
// be sent: queued in a lane not resting. stirred is closed once that may
// have changed.
func (q *queue) urgent() (busy bool, stirred <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for key, l := range q.lanes {
		if key != changeLane && len(l.events) > 0 && !l.resting {
			return true, q.stirred
		}
	}
	return false, q.stirred
}

// rest marks key's lane as resting, or no longer.
func (q *queue) rest(key string, resting bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.lanes[key]; l != nil {
		l.resting = resting
		q.stir()
	}
}

// incidents counts the lanes that are not the change events'; q.mu is
// held.
func (q *queue) incidents() int {
	if _, ok := q.lanes[changeLane]; ok {
		return len(q.lanes) - 1
	}
	return len(q.lanes)
}

// push queues e in its lane.
func (q *queue) push(e queuedEvent) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrStopped
	}
	key := e.key()
	l := q.lanes[key]
	switch {
	case e.change != nil && l != nil && len(l.events) >= q.max:
		return ErrChangesFull
	case e.change == nil && l == nil && q.incidents() >= q.max && !e.resolves():
		return ErrQueueFull
	}
	if l == nil {
		l = &lane{}
		q.lanes[key] = l
	}
	if e.resolves() {
		keep := 0
		if l.active {
			keep = 1 // the head is being sent
		}
		l.events = append(l.events[:keep], slices.DeleteFunc(l.events[keep:], func(x queuedEvent) bool { return !x.resolves() })...)
	}
	q.seq++
	e.seq = q.seq
	l.events = append(l.events, e)
	q.count()
	q.stir()
	if q.ctx != nil && !l.active {
		q.activate(key, l)
	}
	return nil
}

// count recounts the queued events; q.mu is held.
func (q *queue) count() {
	q.events = 0
	for _, l := range q.lanes {
		q.events += len(l.events)
	}
	q.length(q.events)
}

// activate starts l's goroutine; q.mu is held and q.ctx set.
func (q *queue) activate(key string, l *lane) {
	l.active = true
	q.running++
	go q.deliver(q.ctx, key)
}

// start delivers every lane under ctx until stop or close.
func (q *queue) start(ctx context.Context) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ctx = ctx
	for key, l := range q.lanes {
		if !l.active {
			q.activate(key, l)
		}
	}
}

// stop ends delivery: it waits for the lanes' goroutines, which return
// once the context given to start ends or their lane is empty.
func (q *queue) stop() {
	q.mu.Lock()
	q.ctx = nil
	q.mu.Unlock()
	q.wait()
}

// wait waits until no lane's goroutine runs.
func (q *queue) wait() {
	for {
		q.mu.Lock()
		n, idle := q.running, q.idle
		q.mu.Unlock()
		if n == 0 {
			return
		}
		<-idle
	}
}

// head returns the event key's goroutine sends next. When the lane is
// empty it is removed and the goroutine must return (ok is false).
func (q *queue) head(key string) (e queuedEvent, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lanes[key]
	if len(l.events) > 0 {
		return l.events[0], true
	}
	delete(q.lanes, key)
	q.releaseLocked(l)
	q.stir()
	return e, false
}

// release ends key's goroutine, leaving its events queued.
func (q *queue) release(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked(q.lanes[key])
}

func (q *queue) releaseLocked(l *lane) {
	l.active = false
	q.running--
	close(q.idle)
	q.idle = make(chan struct{})
}

// advance moves key's lane past its head: to the head's follow-up when
// it was delivered and has one, else to the next event.
func (q *queue) advance(key string, delivered bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lanes[key]
	if then := l.events[0].then; delivered && then != nil {
		next := *then
		next.seq = l.events[0].seq
		l.events[0] = next
		return
	}
	l.events[0] = queuedEvent{}
	l.events = l.events[1:]
	q.count()
	q.stir()
}

// close refuses further events, waits for the lanes' goroutines, and
// returns what was left undelivered, oldest first.
func (q *queue) close() []queuedEvent {
	q.mu.Lock()
	q.closed, q.ctx = true, nil
	q.mu.Unlock()
	q.wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	var left []queuedEvent
	for _, l := range q.lanes {
		left = append(left, l.events...)
	}
	slices.SortFunc(left, func(a, b queuedEvent) int { return cmp.Compare(a.seq, b.seq) })
	q.lanes, q.events = map[string]*lane{}, 0
	q.length(0)
	return left
}
