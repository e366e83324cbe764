package fakepd

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateChange(t *testing.T) {
	long := strings.Repeat("é", MaxSummary+1)
	tests := []validateCase{
		{name: "every documented field", body: `{"routing_key":"` + key + `","payload":{"summary":"s","source":"prod-eu-1",
			"timestamp":"2026-04-24T23:50:00Z","custom_details":{"manager":"kubectl-set"}},
			"links":[{"href":"https://x","text":"t"},{"href":"https://y"}]}`},
		{name: "summary only", body: `{"routing_key":"` + key + `","payload":{"summary":"s"}}`},
		{name: "summary of 1024 multi-byte characters", body: `{"routing_key":"` + key + `",
			"payload":{"summary":"` + long[:len(long)-len("é")] + `"}}`},
		{name: "no content type", contentType: "text/plain", body: `{"routing_key":"` + key + `","payload":{"summary":"s"}}`,
			wantErrors: []string{"Content-Type"}},
		{name: "missing routing key", body: `{"payload":{"summary":"s"}}`, wantErrors: []string{"'routing_key' is missing"}},
		{name: "short routing key", body: `{"routing_key":"abc","payload":{"summary":"s"}}`,
			wantErrors: []string{"'routing_key' must be 32 characters, got 3"}},
		{name: "missing payload", body: `{"routing_key":"` + key + `"}`, wantErrors: []string{"'payload' is required"}},
		{name: "missing summary", body: `{"routing_key":"` + key + `","payload":{"source":"s"}}`,
			wantErrors: []string{"'payload.summary' is missing"}},
		{name: "summary too long", body: `{"routing_key":"` + key + `","payload":{"summary":"` + long + `"}}`,
			wantErrors: []string{"'payload.summary' must be at most 1024 characters, got 1025"}},
		{name: "bad timestamp", body: `{"routing_key":"` + key + `","payload":{"summary":"s","timestamp":"yesterday"}}`,
			wantErrors: []string{"'payload.timestamp' must be an ISO 8601 timestamp"}},
		{name: "custom details not an object", body: `{"routing_key":"` + key + `","payload":{"summary":"s","custom_details":"x"}}`,
			wantErrors: []string{"'payload.custom_details' must be an object"}},
		{name: "an alert event's fields", body: `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s"}}`,
			wantErrors: []string{`unknown field "event_action"`}},
		{name: "a severity", body: `{"routing_key":"` + key + `","payload":{"summary":"s","severity":"info"}}`,
			wantErrors: []string{`unknown field "severity"`}},
		{name: "a dedup key", body: `{"routing_key":"` + key + `","dedup_key":"k","payload":{"summary":"s"}}`,
			wantErrors: []string{`unknown field "dedup_key"`}},
		{name: "images", body: `{"routing_key":"` + key + `","payload":{"summary":"s"},"images":[{"src":"https://i"}]}`,
			wantErrors: []string{`unknown field "images"`}},
		{name: "link without href", body: `{"routing_key":"` + key + `","payload":{"summary":"s"},"links":[{"text":"t"}]}`,
			wantErrors: []string{"'links[0].href' is missing"}},
	}
	s := New(t)
	c := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			before := len(s.ChangeEvents())
			status, r, err := post(t, c, s.ChangeEventsURL(), ct, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.wantErrors) == 0 {
				if diff := cmp.Diff(Response{Status: "success", Message: "Change event processed"}, r); status != http.StatusAccepted || diff != "" {
					t.Fatalf("answer %d, want 202 (-want +got):\n%s", status, diff)
				}
				if got := s.ChangeEvents(); len(got) != before+1 || string(got[len(got)-1].Raw) != tt.body {
					t.Fatalf("accepted change event not recorded")
				}
				return
			}
			if status != http.StatusBadRequest || r.Status != "invalid event" {
				t.Fatalf("answer %d %q, want 400 invalid event", status, r.Status)
			}
			if len(r.Errors) != len(tt.wantErrors) {
				t.Fatalf("errors %q, want %d matching %q", r.Errors, len(tt.wantErrors), tt.wantErrors)
			}
			for i, want := range tt.wantErrors {
				if !strings.Contains(r.Errors[i], want) {
					t.Errorf("errors[%d] = %q, want it to contain %q", i, r.Errors[i], want)
				}
			}
			if len(s.ChangeEvents()) != before {
				t.Errorf("rejected change event was recorded")
			}
		})
	}
	if n := len(s.Events()); n != 0 {
		t.Errorf("%d change events recorded as alert events", n)
	}
}

// Faults apply to both endpoints in the order requests arrive, as one
// PagerDuty service answers both; the log tells change events apart.
func TestChangeEventsShareFaults(t *testing.T) {
	s := New(t)
	s.ThrottleNext(1, 2*time.Second)
	c := &http.Client{Timeout: 5 * time.Second}
	change := `{"routing_key":"` + key + `","payload":{"summary":"s"}}`
	resolve := `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k"}`
	for i, req := range []struct{ url, body string }{{s.ChangeEventsURL(), change}, {s.EnqueueURL(), resolve}, {s.ChangeEventsURL(), change}} {
		if _, _, err := post(t, c, req.url, "application/json", req.body); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	want := []Request{{Action: "change", Status: 429, RetryAfter: 2 * time.Second},
		{Action: "resolve", DedupKey: "k", Status: 202}, {Action: "change", Status: 202}}
	got := s.RequestLog()
	for i := range got {
		got[i].At = time.Time{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request log (-want +got):\n%s", diff)
	}
	if len(s.ChangeEvents()) != 1 || len(s.Events()) != 1 {
		t.Errorf("accepted %d change events and %d alert events, want 1 and 1", len(s.ChangeEvents()), len(s.Events()))
	}
}
