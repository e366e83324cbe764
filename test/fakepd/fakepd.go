// Package fakepd is a loopback PagerDuty Events API v2 server for tests:
// it checks every request against the documented schema of alert events
// (Validate) and change events (ValidateChange), answers as PagerDuty
// does (202 with the dedup key, 400 "invalid event", 429 with
// Retry-After), can be told to fail, throttle, hang, slow down or be
// down, and records what it accepted and how it answered each request.
//
// PagerDuty cannot run here, so this is the one place its behaviour is
// written down for sentinel's tests; keep it to what the documentation
// says.
package fakepd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// Path is the Events API v2 enqueue path of alert events, ChangePath
// that of change events.
const (
	Path       = "/v2/enqueue"
	ChangePath = "/v2/change/enqueue"
)

// Limits of the Events API v2.
const (
	RoutingKeyLen = 32
	MaxSummary    = 1024
	MaxDedupKey   = 255
	// MaxBody is the documented limit of one event.
	MaxBody = 512 << 10
)

// Event is an event the server accepted.
type Event struct {
	RoutingKey string   `json:"routing_key"`
	Action     string   `json:"event_action"`
	DedupKey   string   `json:"dedup_key,omitempty"`
	Payload    *Payload `json:"payload,omitempty"`
	Images     []Image  `json:"images,omitempty"`
	Links      []Link   `json:"links,omitempty"`
	Client     string   `json:"client,omitempty"`
	ClientURL  string   `json:"client_url,omitempty"`
	// Raw is the request body as received.
	Raw json.RawMessage `json:"-"`
	// Assigned is the dedup key the server answered with: the event's own,
	// or a generated one for a trigger without one.
	Assigned string `json:"-"`
}

// Payload is a trigger's payload.
type Payload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp,omitempty"`
	Component     string          `json:"component,omitempty"`
	Group         string          `json:"group,omitempty"`
	Class         string          `json:"class,omitempty"`
	CustomDetails json.RawMessage `json:"custom_details,omitempty"`
}

// Link is one of an event's links.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Image is one of an event's images.
type Image struct {
	Src  string `json:"src"`
	Href string `json:"href,omitempty"`
	Alt  string `json:"alt,omitempty"`
}

// Rejection is a request the server answered with 400.
type Rejection struct {
	Errors []string
	Raw    []byte
}

// Response is the body of every answer to /v2/enqueue.
type Response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// Request is one request received on the enqueue path: when it came,
// which event it carried, and how it was answered.
type Request struct {
	// At is when the request arrived, on the server's clock.
	At time.Time
	// Action and DedupKey are the event's, when its body reads as one;
	// Action is "change" for a change event.
	Action, DedupKey string
	// Status is the status answered; 0 while the request waits for its
	// answer, and for one never answered (hung, or given up by its client
	// while slow).
	Status int
	// RetryAfter is the Retry-After header answered, if any.
	RetryAfter time.Duration
}

// fault is what happens to one request instead of the usual: a forced
// status, a hang, or the usual handling after a delay.
type fault struct {
	status     int
	hang       bool
	delay      time.Duration
	retryAfter time.Duration
}

// Server is a fake Events API v2. Its methods are safe for concurrent use.
type Server struct {
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	clock clock.PassiveClock

	mu       sync.Mutex
	faults   []fault
	refused  map[string]int // dedup key → status answered
	down     *fault         // every request's fault while down, after faults
	requests int
	log      []Request
	events   []Event
	changes  []ChangeEvent
	rejected []Rejection
	changed  chan struct{} // closed (and replaced) whenever requests or events change
}

// Option adjusts a Server.
type Option func(*Server)

// WithClock stamps requests with c's time (RequestLog); the default is
// the real clock.
func WithClock(c clock.PassiveClock) Option { return func(s *Server) { s.clock = c } }

// New starts a server and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{closing: make(chan struct{}), changed: make(chan struct{}), refused: map[string]int{},
		clock: clock.RealClock{}}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, s.enqueue)
	mux.HandleFunc(ChangePath, s.enqueueChange)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// URL is the server's base URL, as go-pagerduty's WithV2EventsAPIEndpoint
// takes it (the client appends /v2/enqueue).
func (s *Server) URL() string { return s.srv.URL }

// EnqueueURL is the full enqueue endpoint, as configured in
// paging.pagerduty.url.
func (s *Server) EnqueueURL() string { return s.srv.URL + Path }

// Close stops the server, releasing hanging requests first.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// RequestLog returns every request received on the enqueue paths, in the
// order they arrived, with how each was answered so far.
func (s *Server) RequestLog() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Requests counts every request received on the enqueue paths, including
// failed, hung and rejected ones.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Events returns the accepted events, in the order they were accepted.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Rejected returns the requests answered with 400 by validation.
func (s *Server) Rejected() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejected...)
}

// WaitEvents waits until at least n events were accepted and returns them.
func (s *Server) WaitEvents(ctx context.Context, n int) ([]Event, error) {
	if err := s.waitFor(ctx, func() bool { return len(s.events) >= n }); err != nil {
		return s.Events(), fmt.Errorf("wait for %d accepted events: got %d: %w", n, len(s.Events()), err)
	}
	return s.Events(), nil
}

// WaitRequests waits until at least n requests were received.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	if err := s.waitFor(ctx, func() bool { return s.requests >= n }); err != nil {
		return fmt.Errorf("wait for %d requests: got %d: %w", n, s.Requests(), err)
	}
	return nil
}

// waitFor waits until cond, evaluated under s.mu, holds.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyLocked wakes waiters; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// endpoint is what differs between the two enqueue paths: how an event
// is checked and kept, and what the answer to an accepted one says.
type endpoint struct {
	// accept validates body and, when it is valid, keeps the event and
	// returns the dedup key to answer with ("" for none); else it returns
	// the problems found.
	accept  func(contentType string, body []byte) (dedupKey string, errs []string)
	message string
}

// enqueue handles /v2/enqueue: alert events.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) {
	s.receive(w, r, endpoint{accept: s.acceptAlert, message: "Event processed"})
}

// acceptAlert validates an alert event and keeps it.
func (s *Server) acceptAlert(contentType string, body []byte) (string, []string) {
	ev, errs := Validate(contentType, body)
	if len(errs) > 0 {
		return "", errs
	}
	ev.Assigned = ev.DedupKey
	if ev.Assigned == "" {
		ev.Assigned = newDedupKey()
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.notifyLocked()
	s.mu.Unlock()
	return ev.Assigned, nil
}

// receive handles one request to an enqueue path: faults first, then a
// refused dedup key, then validation by ep.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, ep endpoint) {
	s.mu.Lock()
	s.requests++
	var f *fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	} else if s.down != nil {
		down := *s.down
		f = &down
	}
	s.log = append(s.log, Request{At: s.clock.Now()})
	reply := replier{s: s, i: len(s.log) - 1}
	s.notifyLocked()
	s.mu.Unlock()

	// Read the body first, also for a fault: only then does the server
	// notice a client that gives up, and end r's context.
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return // client went away
	}
	s.identify(reply.i, body, r.URL.Path == ChangePath)
	switch {
	case f == nil:
	case f.hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		// Never an answer: drop the connection.
		panic(http.ErrAbortHandler)
	case f.delay > 0:
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-s.closing:
			panic(http.ErrAbortHandler)
		}
	default:
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter/time.Second)))
		}
		reply.answer(w, f.status, forced(f.status))
		return
	}
	if status, ok := s.refusal(body); ok {
		reply.answer(w, status, forced(status))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply.record(http.StatusMethodNotAllowed, 0)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	dedupKey, errs := ep.accept(r.Header.Get("Content-Type"), body)
	if len(errs) > 0 {
		s.mu.Lock()
		s.rejected = append(s.rejected, Rejection{Errors: errs, Raw: body})
		s.notifyLocked()
		s.mu.Unlock()
		reply.answer(w, http.StatusBadRequest, Response{Status: "invalid event", Message: "Event object is invalid", Errors: errs})
		return
	}
	reply.answer(w, http.StatusAccepted, Response{Status: "success", Message: ep.message, DedupKey: dedupKey})
}

// replier records the answer to request i of the log.
type replier struct {
	s *Server
	i int
}

// record notes request i's answer.
func (r replier) record(status int, retryAfter time.Duration) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.log[r.i].Status, r.s.log[r.i].RetryAfter = status, retryAfter
	r.s.notifyLocked()
}

// answer records the answer, with the Retry-After header already set on
// w, and writes it.
func (r replier) answer(w http.ResponseWriter, status int, body Response) {
	var after time.Duration
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err == nil {
		after = time.Duration(s) * time.Second
	}
	r.record(status, after)
	answer(w, status, body)
}

// identify notes which event request i carried, when its body reads as
// one: a change event's action is "change".
func (s *Server) identify(i int, body []byte, change bool) {
	var ev struct {
		Action   string `json:"event_action"`
		DedupKey string `json:"dedup_key"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return
	}
	if change {
		ev.Action = "change"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log[i].Action, s.log[i].DedupKey = ev.Action, ev.DedupKey
}

// refusal is the status to answer body with when its dedup key is
// refused.
func (s *Server) refusal(body []byte) (int, bool) {
	var ev struct {
		DedupKey string `json:"dedup_key"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	status, ok := s.refused[ev.DedupKey]
	return status, ok
}

// forced is PagerDuty's body for a forced status.
func forced(status int) Response {
	switch {
	case status == http.StatusTooManyRequests:
		return Response{Status: "throttle event", Message: "Requests for this service are arriving too quickly.  Please retry later."}
	case status == http.StatusBadRequest:
		return Response{Status: "invalid event", Message: "Event object is invalid", Errors: []string{"forced by fakepd"}}
	case status >= 500:
		return Response{Status: "internal error", Message: http.StatusText(status)}
	default:
		return Response{Status: "error", Message: http.StatusText(status)}
	}
}

func answer(w http.ResponseWriter, status int, r Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(r)
}

func newDedupKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
