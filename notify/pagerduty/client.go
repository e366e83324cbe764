package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	pdapi "github.com/PagerDuty/go-pagerduty"

	"github.com/sentinel-sre/sentinel/config"
)

// enqueuePath is the Events API v2 path of alert events; go-pagerduty
// appends it, or that of change events (/v2/change/enqueue), to the
// endpoint it is given.
const enqueuePath = "/v2/enqueue"

// client posts events to PagerDuty through go-pagerduty and classifies
// the answer. The routing key is added to an event only here, at the
// moment it is sent.
type client struct {
	pd      *pdapi.Client
	key     *config.Secret // a pointer, so %v of a client prints no key
	timeout time.Duration
	now     func() time.Time
}

func newClient(httpClient *http.Client, url string, key config.Secret, timeout time.Duration, now func() time.Time) *client {
	// config.Validate has checked that url ends in enqueuePath.
	pd := pdapi.NewClient("", pdapi.WithV2EventsAPIEndpoint(strings.TrimSuffix(url, enqueuePath)))
	pd.HTTPClient = answerRecorder{httpClient}
	return &client{pd: pd, key: &key, timeout: timeout, now: now}
}

// DeliveryError is a failed attempt to send an event. It carries the HTTP
// status (0 when there was no answer), PagerDuty's error strings and the
// wait it asked for (Retry-After), never the event or the routing key.
type DeliveryError struct {
	Status     int
	Errors     []string
	RetryAfter time.Duration
	msg        string
}

func (e *DeliveryError) Error() string { return e.msg }

// send makes one attempt at an alert event (/v2/enqueue). retry says
// whether another attempt can succeed; err is always a *DeliveryError.
func (c *client) send(ctx context.Context, ev pdapi.V2Event) (retry bool, err error) {
	return c.attempt(ctx, func(ctx context.Context) error {
		ev.RoutingKey = c.key.Reveal()
		_, err := c.pd.ManageEventWithContext(ctx, &ev)
		return err
	})
}

// sendChange is send for a change event.
func (c *client) sendChange(ctx context.Context, ce pdapi.ChangeEvent) (retry bool, err error) {
	return c.attempt(ctx, func(ctx context.Context) error {
		ce.RoutingKey = c.key.Reveal()
		_, err := c.pd.CreateChangeEventWithContext(ctx, ce)
		return err
	})
}

// attempt makes one attempt with post, bounded by the timeout, and
// classifies its answer.
func (c *client) attempt(ctx context.Context, post func(context.Context) error) (retry bool, err error) {
	attemptCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ans := &answer{}
	err = post(context.WithValue(attemptCtx, answerKey{}, ans))
	if err == nil {
		return false, nil
	}
	// go-pagerduty's errors may quote the request; keep only what we need.
	de := &DeliveryError{Status: ans.status, RetryAfter: retryAfter(ans.retryAfter, c.now())}
	var apiErr pdapi.APIError
	if errors.As(err, &apiErr) {
		de.Status = apiErr.StatusCode
	}
	for _, s := range ans.body.Errors {
		de.Errors = append(de.Errors, c.scrub(s))
	}
	switch {
	case !ans.sent && ctx.Err() == nil:
		// Nothing went out (the request could not be built): another
		// attempt would fail the same way.
		de.msg = "send to pagerduty: " + c.scrub(err.Error())
		return false, de
	case success(de.Status):
		de.msg = fmt.Sprintf("send to pagerduty: answered %d with an unreadable body: %s", de.Status, c.scrub(err.Error()))
	case de.Status != 0:
		de.msg = fmt.Sprintf("send to pagerduty: answered %d", de.Status)
		if s := strings.Join(nonEmpty(ans.body.Status, ans.body.Message), ": "); s != "" {
			de.msg += " " + c.scrub(s)
		}
		if len(de.Errors) > 0 {
			de.msg += ": " + strings.Join(de.Errors, "; ")
		}
	case errors.Is(attemptCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		de.msg = fmt.Sprintf("send to pagerduty: no answer within %s", c.timeout)
	default:
		de.msg = "send to pagerduty: " + c.scrub(err.Error())
	}
	return retryable(de.Status), de
}

// retryable: no answer, a timeout, throttling or a server error. Other
// answers would not change: a 4xx (400: invalid event), or a 2xx whose
// body could not be read (PagerDuty took the event).
func retryable(status int) bool {
	switch {
	case status == 0:
		return true
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date. It is
// 0 when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// success is a 2xx status.
func success(status int) bool { return status >= 200 && status < 300 }

func (c *client) scrub(s string) string {
	if k := c.key.Reveal(); k != "" {
		s = strings.ReplaceAll(s, k, config.Secret("").String())
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// answerKey carries an *answer in a request's context.
type answerKey struct{}

// answer is what an attempt's response said. go-pagerduty decodes error
// bodies as the REST API's shape, which the Events API's 400 does not
// have, so its errors are read here.
type answer struct {
	// sent is set once the request is handed to the HTTP client.
	sent       bool
	status     int
	retryAfter string
	body       pdapi.V2EventResponse
}

// answerRecorder is the HTTP client given to go-pagerduty: it records
// the status, Retry-After and error body of each response in the
// request's answer.
type answerRecorder struct{ c *http.Client }

func (r answerRecorder) Do(req *http.Request) (*http.Response, error) {
	ans, _ := req.Context().Value(answerKey{}).(*answer)
	if ans != nil {
		ans.sent = true
	}
	resp, err := r.c.Do(req)
	if err != nil || ans == nil {
		return resp, err
	}
	ans.status = resp.StatusCode
	ans.retryAfter = resp.Header.Get("Retry-After")
	if success(resp.StatusCode) {
		return resp, nil
	}
	b, readErr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if readErr == nil {
		_ = json.Unmarshal(b, &ans.body)
	}
	return resp, nil
}
