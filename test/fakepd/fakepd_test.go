package fakepd

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

const key = "0123456789abcdef0123456789abcdef"

func post(t *testing.T, c *http.Client, url, contentType, body string) (int, Response, error) {
	t.Helper()
	resp, err := c.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		return 0, Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", resp.StatusCode, err, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return resp.StatusCode, r, nil
}

// validateCase is one request to Validate.
type validateCase struct {
	name        string
	contentType string
	body        string
	wantErrors  []string // substrings, one per expected error
}

func validateCases() []validateCase {
	long := strings.Repeat("é", MaxSummary+1)
	return []validateCase{
		{name: "trigger", body: `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"k",
			"payload":{"summary":"s","source":"sentinel","severity":"critical","timestamp":"2025-03-04T10:00:00Z",
			"component":"c","group":"g","class":"x","custom_details":{"a":1}},
			"links":[{"href":"https://x","text":"t"}],"images":[{"src":"https://i","href":"https://h","alt":"a"}],
			"client":"sentinel","client_url":"https://d"}`},
		{name: "trigger without dedup key", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"sentinel","severity":"info"}}`},
		{name: "summary of 1024 multi-byte characters", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"` + long[:len(long)-len("é")] + `","source":"s","severity":"info"}}`},
		{name: "resolve", body: `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k"}`},
		{name: "acknowledge", body: `{"routing_key":"` + key + `","event_action":"acknowledge","dedup_key":"k"}`},
		{name: "no content type", contentType: "text/plain",
			body:       `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k"}`,
			wantErrors: []string{"Content-Type"}},
		{name: "not JSON", body: `routing_key=x`, wantErrors: []string{"not a valid JSON object"}},
		{name: "unknown top-level field", body: `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k","severity":"info"}`,
			wantErrors: []string{`unknown field "severity"`}},
		{name: "unknown payload field", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"s","severity":"info","details":{}}}`,
			wantErrors: []string{`unknown field "details"`}},
		{name: "summary of the wrong type", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":1,"source":"s","severity":"info"}}`,
			wantErrors: []string{"not a valid JSON object"}},
		{name: "missing routing key", body: `{"event_action":"resolve","dedup_key":"k"}`,
			wantErrors: []string{"'routing_key' is missing"}},
		{name: "short routing key", body: `{"routing_key":"abc","event_action":"resolve","dedup_key":"k"}`,
			wantErrors: []string{"'routing_key' must be 32 characters, got 3"}},
		{name: "bad action", body: `{"routing_key":"` + key + `","event_action":"close","dedup_key":"k"}`,
			wantErrors: []string{"'event_action' is invalid"}},
		{name: "missing action", body: `{"routing_key":"` + key + `","dedup_key":"k"}`,
			wantErrors: []string{"'event_action' is missing"}},
		{name: "resolve without dedup key", body: `{"routing_key":"` + key + `","event_action":"resolve"}`,
			wantErrors: []string{"'dedup_key' is required for event_action resolve"}},
		{name: "acknowledge without dedup key", body: `{"routing_key":"` + key + `","event_action":"acknowledge"}`,
			wantErrors: []string{"'dedup_key' is required for event_action acknowledge"}},
		{name: "dedup key too long", body: `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"` + strings.Repeat("k", 256) + `"}`,
			wantErrors: []string{"'dedup_key' must be at most 255"}},
		{name: "trigger without payload", body: `{"routing_key":"` + key + `","event_action":"trigger"}`,
			wantErrors: []string{"'payload' is required"}},
		{name: "trigger with an empty payload", body: `{"routing_key":"` + key + `","event_action":"trigger","payload":{}}`,
			wantErrors: []string{"'payload.summary' is missing", "'payload.source' is missing", "'payload.severity' is missing"}},
		{name: "summary too long", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"` + long + `","source":"s","severity":"info"}}`,
			wantErrors: []string{"'payload.summary' must be at most 1024 characters, got 1025"}},
		{name: "bad severity", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"s","severity":"high"}}`,
			wantErrors: []string{"'payload.severity' is invalid"}},
		{name: "bad timestamp", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"s","severity":"info","timestamp":"yesterday"}}`,
			wantErrors: []string{"'payload.timestamp' must be an ISO 8601 timestamp"}},
		{name: "link without href", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"s","severity":"info"},"links":[{"text":"t"}]}`,
			wantErrors: []string{"'links[0].href' is missing"}},
		{name: "link as a string", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"s","severity":"info"},"links":["https://x"]}`,
			wantErrors: []string{"not a valid JSON object"}},
		{name: "link with an unknown field", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"s","severity":"info"},"links":[{"href":"h","url":"u"}]}`,
			wantErrors: []string{`unknown field "url"`}},
		{name: "image without src", body: `{"routing_key":"` + key + `","event_action":"trigger",
			"payload":{"summary":"s","source":"s","severity":"info"},"images":[{"href":"h"}]}`,
			wantErrors: []string{"'images[0].src' is missing"}},
	}
}

func TestValidate(t *testing.T) {
	tests := validateCases()
	s := New(t)
	c := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			before := len(s.Events())
			status, r, err := post(t, c, s.EnqueueURL(), ct, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.wantErrors) == 0 {
				if r.DedupKey == "" {
					t.Fatalf("answer %d without a dedup key", status)
				}
				assigned := r.DedupKey
				r.DedupKey = "<assigned>"
				if diff := cmp.Diff(Response{Status: "success", Message: "Event processed", DedupKey: "<assigned>"}, r); status != http.StatusAccepted || diff != "" {
					t.Fatalf("answer %d, want 202 (-want +got):\n%s", status, diff)
				}
				evs := s.Events()
				if len(evs) != before+1 || evs[len(evs)-1].Assigned != assigned {
					t.Fatalf("accepted event not recorded with dedup key %q", assigned)
				}
				return
			}
			if status != http.StatusBadRequest || r.Status != "invalid event" || r.Message != "Event object is invalid" {
				t.Fatalf("answer %d %q %q, want 400 invalid event", status, r.Status, r.Message)
			}
			if len(r.Errors) != len(tt.wantErrors) {
				t.Fatalf("errors %q, want %d matching %q", r.Errors, len(tt.wantErrors), tt.wantErrors)
			}
			for i, want := range tt.wantErrors {
				if !strings.Contains(r.Errors[i], want) {
					t.Errorf("errors[%d] = %q, want it to contain %q", i, r.Errors[i], want)
				}
			}
			if len(s.Events()) != before {
				t.Errorf("rejected event was recorded")
			}
		})
	}
}

func TestFaults(t *testing.T) {
	valid := `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k"}`
	tests := []struct {
		name       string
		fail       func(*Server)
		wantStatus []int // of consecutive requests; 0: no answer
	}{
		{name: "throttled", fail: func(s *Server) { s.FailNext(2, http.StatusTooManyRequests) },
			wantStatus: []int{429, 429, 202}},
		{name: "server error", fail: func(s *Server) { s.FailNext(1, http.StatusInternalServerError) },
			wantStatus: []int{500, 202}},
		{name: "forced invalid", fail: func(s *Server) { s.FailNext(1, http.StatusBadRequest) },
			wantStatus: []int{400, 202}},
		{name: "hang", fail: func(s *Server) { s.HangNext(1) }, wantStatus: []int{0, 202}},
		{name: "faults in order", fail: func(s *Server) {
			s.FailNext(1, http.StatusServiceUnavailable)
			s.HangNext(1)
			s.FailNext(1, http.StatusTooManyRequests)
		}, wantStatus: []int{503, 0, 429, 202}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t)
			tt.fail(s)
			c := &http.Client{Timeout: 200 * time.Millisecond}
			for i, want := range tt.wantStatus {
				status, r, err := post(t, c, s.EnqueueURL(), "application/json", valid)
				switch {
				case want == 0 && err == nil:
					t.Fatalf("request %d answered %d, want a hang", i, status)
				case want == 0:
					continue
				case err != nil:
					t.Fatalf("request %d: %v", i, err)
				case status != want:
					t.Fatalf("request %d answered %d %q, want %d", i, status, r.Status, want)
				case status != http.StatusAccepted && r.Status == "":
					t.Errorf("request %d: %d without a status in the body", i, status)
				}
			}
			if got := s.Requests(); got != len(tt.wantStatus) {
				t.Errorf("Requests() = %d, want %d", got, len(tt.wantStatus))
			}
			if got := len(s.Events()); got != 1 {
				t.Errorf("accepted %d events, want 1", got)
			}
		})
	}
}

func TestWaitEvents(t *testing.T) {
	s := New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitEvents(ctx, 1); err == nil {
		t.Fatal("WaitEvents without events returned no error")
	}
	go func() {
		resp, err := http.Post(s.EnqueueURL(), "application/json",
			strings.NewReader(`{"routing_key":"`+key+`","event_action":"resolve","dedup_key":"k"}`))
		if err == nil {
			resp.Body.Close()
		}
	}()
	ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	evs, err := s.WaitEvents(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ev := range evs {
		keys = append(keys, ev.DedupKey)
	}
	if diff := cmp.Diff([]string{"k"}, keys); diff != "" {
		t.Errorf("WaitEvents (-want +got):\n%s", diff)
	}
}

func TestCloseReleasesHangingRequests(t *testing.T) {
	s := New(t)
	s.HangNext(1)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(s.EnqueueURL(), "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hung request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging request")
	}
}

func TestSlowNext(t *testing.T) {
	valid := func(dedup string) string {
		return `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"` + dedup + `"}`
	}
	s := New(t)
	s.SlowNext(2, 100*time.Millisecond)

	start := time.Now()
	status, _, err := post(t, &http.Client{Timeout: 5 * time.Second}, s.EnqueueURL(), "application/json", valid("patient"))
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("slow request: %d, %v; want 202", status, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("slow request answered after %s, want at least 100ms", d)
	}

	if _, _, err := post(t, &http.Client{Timeout: 20 * time.Millisecond}, s.EnqueueURL(), "application/json", valid("impatient")); err == nil {
		t.Fatal("a client that gave up after 20ms got an answer")
	}
	status, _, err = post(t, &http.Client{Timeout: 50 * time.Millisecond}, s.EnqueueURL(), "application/json", valid("after"))
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("request after the slow ones: %d, %v; want an immediate 202", status, err)
	}
	// Close returns once every handler has, the abandoned one included:
	// had it recorded its event after all, the event would be there now.
	s.Close()
	var keys []string
	for _, ev := range s.Events() {
		keys = append(keys, ev.DedupKey)
	}
	if diff := cmp.Diff([]string{"patient", "after"}, keys); diff != "" {
		t.Errorf("accepted, want patient and after: the abandoned request dropped (-want +got):\n%s", diff)
	}
	if got := s.Requests(); got != 3 {
		t.Errorf("Requests() = %d, want 3", got)
	}
}

// TestThrottleAndRefuse: a throttled request carries Retry-After; a
// refused dedup key is answered with its status until accepted, others
// are not.
func TestThrottleAndRefuse(t *testing.T) {
	s := New(t)
	s.ThrottleNext(1, 30*time.Second)
	s.Refuse("stuck", http.StatusInternalServerError)
	event := func(dedup string) string {
		return `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"` + dedup + `"}`
	}
	type answer struct {
		Status     int
		RetryAfter string
	}
	send := func(dedup string) answer {
		resp, err := http.Post(s.EnqueueURL(), "application/json", strings.NewReader(event(dedup)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return answer{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	}
	got := []answer{send("other"), send("stuck"), send("other")}
	s.Accept("stuck")
	got = append(got, send("stuck"))
	want := []answer{{Status: 429, RetryAfter: "30"}, {Status: 500}, {Status: 202}, {Status: 202}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	var keys []string
	for _, ev := range s.Events() {
		keys = append(keys, ev.DedupKey)
	}
	if diff := cmp.Diff([]string{"other", "stuck"}, keys); diff != "" {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
}

// TestRequestLog: every request is logged with its arrival time on the
// server's clock, its event and its answer — a hung one with none — and
// Down fails every request after the queued faults until Up.
func TestRequestLog(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(at)
	s := New(t, WithClock(clk))
	s.ThrottleNext(1, 3*time.Second)
	s.Down(http.StatusInternalServerError)
	event := func(action, dedup string) string {
		return `{"routing_key":"` + key + `","event_action":"` + action + `","dedup_key":"` + dedup + `"}`
	}
	c := &http.Client{Timeout: 200 * time.Millisecond}
	send := func(body string) {
		if _, _, err := post(t, c, s.EnqueueURL(), "application/json", body); err != nil {
			t.Fatal(err)
		}
		clk.SetTime(clk.Now().Add(time.Second))
	}
	send(event("resolve", "a"))
	send(event("resolve", "a"))
	s.Down(0)
	if _, _, err := post(t, c, s.EnqueueURL(), "application/json", event("resolve", "b")); err == nil {
		t.Fatal("a request while down with status 0 got an answer")
	}
	clk.SetTime(clk.Now().Add(time.Second))
	s.Up()
	send(event("resolve", "b"))
	send(`not json`)

	sec := func(n int) time.Time { return at.Add(time.Duration(n) * time.Second) }
	want := []Request{
		{At: sec(0), Action: "resolve", DedupKey: "a", Status: 429, RetryAfter: 3 * time.Second},
		{At: sec(1), Action: "resolve", DedupKey: "a", Status: 500},
		{At: sec(2), Action: "resolve", DedupKey: "b"},
		{At: sec(3), Action: "resolve", DedupKey: "b", Status: 202},
		{At: sec(4), Status: 400},
	}
	if diff := cmp.Diff(want, s.RequestLog()); diff != "" {
		t.Errorf("RequestLog (-want +got):\n%s", diff)
	}
}
