package fakepd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// ChangeEvent is a change event the server accepted
// (https://developer.pagerduty.com/docs/events-api-v2/send-change-events/).
type ChangeEvent struct {
	RoutingKey string         `json:"routing_key"`
	Payload    *ChangePayload `json:"payload"`
	Links      []Link         `json:"links,omitempty"`
	// Raw is the request body as received.
	Raw json.RawMessage `json:"-"`
}

// ChangePayload is a change event's payload: no severity, no dedup key.
type ChangePayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source,omitempty"`
	Timestamp     string          `json:"timestamp,omitempty"`
	CustomDetails json.RawMessage `json:"custom_details,omitempty"`
}

// ValidateChange checks one request to the change events endpoint
// against its documented schema and returns the event, or every problem
// found: routing_key (32 characters), payload.summary (required, at most
// 1024 characters), payload.source and payload.timestamp (ISO 8601)
// optional, payload.custom_details an object, links with an href each.
// Unknown fields are errors: change events take no dedup_key, severity
// or images.
func ValidateChange(contentType string, body []byte) (ChangeEvent, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	var ev ChangeEvent
	if !decodeStrict(contentType, body, "change event", &ev, bad) {
		return ChangeEvent{}, errs
	}
	ev.Raw = append(json.RawMessage(nil), body...)
	checkRoutingKey(ev.RoutingKey, bad)
	validateChangePayload(ev.Payload, bad)
	for i, l := range ev.Links {
		if l.Href == "" {
			bad("'links[%d].href' is missing or blank", i)
		}
	}
	return ev, errs
}

func validateChangePayload(p *ChangePayload, bad func(string, ...any)) {
	if p == nil {
		bad("'payload' is required")
		return
	}
	switch n := utf8.RuneCountInString(p.Summary); {
	case n == 0:
		bad("'payload.summary' is missing or blank")
	case n > MaxSummary:
		bad("'payload.summary' must be at most %d characters, got %d", MaxSummary, n)
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			bad("'payload.timestamp' must be an ISO 8601 timestamp, got %q", p.Timestamp)
		}
	}
	if len(p.CustomDetails) > 0 && p.CustomDetails[0] != '{' && string(p.CustomDetails) != "null" {
		bad("'payload.custom_details' must be an object")
	}
}

// enqueueChange handles /v2/change/enqueue: change events.
func (s *Server) enqueueChange(w http.ResponseWriter, r *http.Request) {
	s.receive(w, r, endpoint{accept: s.acceptChange, message: "Change event processed"})
}

// acceptChange validates a change event and keeps it.
func (s *Server) acceptChange(contentType string, body []byte) (string, []string) {
	ev, errs := ValidateChange(contentType, body)
	if len(errs) > 0 {
		return "", errs
	}
	s.mu.Lock()
	s.changes = append(s.changes, ev)
	s.notifyLocked()
	s.mu.Unlock()
	return "", nil
}

// ChangeEventsURL is the change events endpoint.
func (s *Server) ChangeEventsURL() string { return s.srv.URL + ChangePath }

// ChangeEvents returns the accepted change events, in the order they were
// accepted.
func (s *Server) ChangeEvents() []ChangeEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ChangeEvent(nil), s.changes...)
}

// WaitChangeEvents waits until at least n change events were accepted
// and returns them.
func (s *Server) WaitChangeEvents(ctx context.Context, n int) ([]ChangeEvent, error) {
	if err := s.waitFor(ctx, func() bool { return len(s.changes) >= n }); err != nil {
		return s.ChangeEvents(), fmt.Errorf("wait for %d accepted change events: got %d: %w", n, len(s.ChangeEvents()), err)
	}
	return s.ChangeEvents(), nil
}
