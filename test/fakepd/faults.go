package fakepd

import (
	"net/http"
	"time"
)

// How the server is told to misbehave: the faults of the next requests,
// refused dedup keys, an outage.

// FailNext answers the next n requests with status (429, 500, 503, 400…)
// and PagerDuty's body for it, without looking at them. Status 0 hangs
// them, as HangNext.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status, hang: status == 0})
	}
}

// ThrottleNext answers the next n requests 429 with a Retry-After header
// of after (whole seconds), as PagerDuty does when a service's events
// arrive too quickly.
func (s *Server) ThrottleNext(n int, after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: http.StatusTooManyRequests, retryAfter: after})
	}
}

// Refuse answers every event with dedup key key with status (500, 429…)
// until Accept; other events are handled as usual. Faults of FailNext,
// HangNext and SlowNext come first.
func (s *Server) Refuse(key string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[key] = status
}

// Accept ends Refuse for key.
func (s *Server) Accept(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refused, key)
}

// HangNext makes the next n requests hang until the client gives up (its
// timeout or context) or the server closes.
func (s *Server) HangNext(n int) {
	s.FailNext(n, 0)
}

// SlowNext makes the next n requests wait d before they are handled as
// usual. A request whose client gives up before then is dropped
// unanswered and not recorded, as if it never reached PagerDuty.
func (s *Server) SlowNext(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{delay: d})
	}
}

// Down answers every request with status (429, 500, 503…), or hangs it
// when status is 0, until Up, as during an outage of PagerDuty. Faults of
// FailNext, ThrottleNext, HangNext and SlowNext come first.
func (s *Server) Down(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = &fault{status: status, hang: status == 0}
}

// Up ends Down.
func (s *Server) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = nil
}
