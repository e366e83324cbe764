package fakepd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"time"
	"unicode/utf8"
)

// Validate checks one request against the Events API v2 schema
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/) and
// returns the event, or every problem found. Unknown fields are errors,
// at the top level and in the payload, links and images.
func Validate(contentType string, body []byte) (Event, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	var ev Event
	if !decodeStrict(contentType, body, "event", &ev, bad) {
		return Event{}, errs
	}
	ev.Raw = append(json.RawMessage(nil), body...)
	checkRoutingKey(ev.RoutingKey, bad)
	if utf8.RuneCountInString(ev.DedupKey) > MaxDedupKey {
		bad("'dedup_key' must be at most %d characters", MaxDedupKey)
	}
	switch ev.Action {
	case "trigger":
		validatePayload(ev.Payload, bad)
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			bad("'dedup_key' is required for event_action %s", ev.Action)
		}
	case "":
		bad("'event_action' is missing or blank")
	default:
		bad("'event_action' is invalid (expected trigger, acknowledge or resolve), got %q", ev.Action)
	}
	for i, l := range ev.Links {
		if l.Href == "" {
			bad("'links[%d].href' is missing or blank", i)
		}
	}
	for i, img := range ev.Images {
		if img.Src == "" {
			bad("'images[%d].src' is missing or blank", i)
		}
	}
	return ev, errs
}

func validatePayload(p *Payload, bad func(string, ...any)) {
	if p == nil {
		bad("'payload' is required for event_action trigger")
		return
	}
	switch n := utf8.RuneCountInString(p.Summary); {
	case n == 0:
		bad("'payload.summary' is missing or blank")
	case n > MaxSummary:
		bad("'payload.summary' must be at most %d characters, got %d", MaxSummary, n)
	}
	if p.Source == "" {
		bad("'payload.source' is missing or blank")
	}
	switch p.Severity {
	case "critical", "error", "warning", "info":
	case "":
		bad("'payload.severity' is missing or blank")
	default:
		bad("'payload.severity' is invalid (expected critical, error, warning or info), got %q", p.Severity)
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			bad("'payload.timestamp' must be an ISO 8601 timestamp, got %q", p.Timestamp)
		}
	}
}

// decodeStrict reads body, sent as contentType, into v as the Events API
// reads a request: JSON only, at most MaxBody bytes, no unknown field, one
// object. It reports each problem to bad (noun names the object) and
// whether v was decoded.
func decodeStrict(contentType string, body []byte, noun string, v any, bad func(string, ...any)) bool {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		bad("Content-Type must be application/json, got %q", contentType)
	}
	if len(body) > MaxBody {
		bad("event is larger than %d bytes", MaxBody)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		bad("%s is not a valid JSON object of the documented shape: %v", noun, err)
		return false
	}
	if dec.More() {
		bad("trailing data after the event object")
	}
	return true
}

// checkRoutingKey reports a routing key that is missing or not of the
// integration's length.
func checkRoutingKey(key string, bad func(string, ...any)) {
	switch n := len(key); {
	case n == 0:
		bad("'routing_key' is missing or blank")
	case n != RoutingKeyLen:
		bad("'routing_key' must be %d characters, got %d", RoutingKeyLen, n)
	}
}
