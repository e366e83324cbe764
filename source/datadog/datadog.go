// Package datadog is sentinel's metric source over Datadog's metrics
// query API (GET /api/v1/query, through datadog-api-client-go): one query
// per poll gives every workload's request and failure rates over the rate
// window, read only from buckets that ended at least the ingestion delay
// before the poll. A missing answer is an error, never a healthy one, and
// Datadog's rate limits are honoured. See docs/metrics.md.
package datadog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"
	promclient "github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
)

// Environment variables the keys are read from when no file is configured.
const (
	APIKeyEnv = "DD_API_KEY"
	AppKeyEnv = "DD_APP_KEY"
)

// DefaultIngestionDelay is how long after a bucket ends its counts are
// taken as complete: the Datadog Agent runs the Istio check and flushes
// every 15 s, so a bucket is whole about two flushes after it ends.
const DefaultIngestionDelay = 30 * time.Second

// defaultRateLimitWait is how long polls are skipped after a 429 that
// says neither when the limit resets nor its period.
const defaultRateLimitWait = time.Minute

// Rate-limit headers Datadog sends with every API response.
const (
	headerLimit     = "X-RateLimit-Limit"
	headerPeriod    = "X-RateLimit-Period"
	headerRemaining = "X-RateLimit-Remaining"
	headerReset     = "X-RateLimit-Reset" // seconds until the limit resets
)

// Source queries Datadog. It is safe for concurrent use.
type Source struct {
	api        *datadogV1.MetricsApi
	server     func(context.Context) context.Context
	query      string
	codes      *regexp.Regexp
	grpcCodes  *regexp.Regexp // nil: no gRPC status is judged
	nsTag      string
	wlTag      string
	codeTag    string
	grpcTag    string
	revTag     string
	podTag     string
	window     time.Duration
	delay      time.Duration
	timeout    time.Duration
	apiKeyFile string
	appKeyFile string
	clock      clock.PassiveClock
	log        *zap.Logger
	m          *source.Metrics

	mu           sync.Mutex
	blockedUntil time.Time
}

// Option changes how New builds a Source.
type Option func(*options)

type options struct {
	client *http.Client
	clock  clock.PassiveClock
	log    *zap.Logger
	delay  time.Duration
}

// WithHTTPClient sends requests with c (default: a client of its own).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithClock reads the time from c for rate limits and query durations
// (default: the real clock). The evaluation time is always Observe's at.
func WithClock(c clock.PassiveClock) Option { return func(o *options) { o.clock = c } }

// WithLogger logs rate-limit waits and skipped series on l (default: none).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithIngestionDelay sets how long after a bucket ends its counts are
// taken as complete (default DefaultIngestionDelay).
func WithIngestionDelay(d time.Duration) Option { return func(o *options) { o.delay = d } }

// New returns a Source for cfg.Metrics.Datadog, using
// cfg.Detection.RateWindow and FailureCodes, and registers its metrics
// with reg. cfg must be valid (config.Validate). The keys are read once
// here, so a missing one fails at start-up, and again on every poll, so a
// rotated key file is picked up.
func New(cfg config.Config, reg promclient.Registerer, opts ...Option) (*Source, error) {
	o := options{clock: clock.RealClock{}, log: zap.NewNop(), delay: DefaultIngestionDelay}
	for _, opt := range opts {
		opt(&o)
	}
	d := cfg.Metrics.Datadog
	codes, err := config.CompileCodes(cfg.Detection.FailureCodes)
	if err != nil {
		return nil, fmt.Errorf("detection.failure_codes: %w", err)
	}
	grpcCodes, err := config.CompileGRPCCodes(cfg.Detection.GRPCFailureCodes)
	if err != nil {
		return nil, fmt.Errorf("detection.grpc_failure_codes: %w", err)
	}
	grpcTag := grpcTagOf(d, cfg.Detection)
	if grpcTag == "" {
		grpcCodes = nil
	}
	if _, err := config.ReadSecret(d.APIKeyFile, APIKeyEnv); err != nil {
		return nil, fmt.Errorf("metrics.datadog: API key: %w", err)
	}
	if _, err := config.ReadSecret(d.AppKeyFile, AppKeyEnv); err != nil {
		return nil, fmt.Errorf("metrics.datadog: application key: %w", err)
	}
	server, err := serverContext(d)
	if err != nil {
		return nil, err
	}
	if o.delay < 0 {
		return nil, fmt.Errorf("ingestion delay must not be negative, got %s", o.delay)
	}
	if o.client == nil {
		o.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	dc := datadog.NewConfiguration()
	dc.HTTPClient = o.client
	// One request per poll: the next poll is the retry, and a retry inside
	// a poll would sleep past it.
	dc.RetryConfiguration.EnableRetry = false
	m, err := source.NewMetrics(reg, sourceLabel, errorReasons, skipReasons)
	if err != nil {
		return nil, fmt.Errorf("register datadog source metrics: %w", err)
	}
	return &Source{
		api: datadogV1.NewMetricsApi(datadog.NewAPIClient(dc)), server: server,
		query: RenderQuery(d, cfg.Detection), codes: codes, grpcCodes: grpcCodes,
		nsTag: d.NamespaceTag, wlTag: d.WorkloadTag, codeTag: d.CodeTag, grpcTag: grpcTag, revTag: d.RevisionTag, podTag: d.PodTag,
		window: cfg.Detection.RateWindow, delay: o.delay, timeout: d.Timeout,
		apiKeyFile: d.APIKeyFile, appKeyFile: d.AppKeyFile,
		clock: o.clock, log: o.log, m: m,
	}, nil
}

// serverContext picks the API server the client's own way: server 1
// ("{protocol}://{name}") for metrics.datadog.url, else server 2
// ("https://{subdomain}.{site}", any site) for metrics.datadog.site.
func serverContext(d config.Datadog) (func(context.Context) context.Context, error) {
	index, vars := 2, map[string]string{"site": d.Site, "subdomain": "api"}
	if d.URL != "" {
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("metrics.datadog.url: must be an http(s) URL, got %q", d.URL)
		}
		index, vars = 1, map[string]string{"protocol": u.Scheme, "name": u.Host + strings.TrimRight(u.Path, "/")}
	} else if d.Site == "" {
		return nil, errors.New("metrics.datadog.site: must be set when metrics.datadog.url is not")
	}
	return func(ctx context.Context) context.Context {
		ctx = context.WithValue(ctx, datadog.ContextServerIndex, index)
		return context.WithValue(ctx, datadog.ContextServerVariables, vars)
	}, nil
}

// RenderQuery returns the Datadog query sentinel sends for d and det: the
// request count summed by namespace, workload, response code and gRPC
// status (unless none is judged), as counts per bucket. sentinel
// classifies each group itself, as the replay does.
func RenderQuery(d config.Datadog, det config.Detection) string {
	scope := strings.TrimSpace(d.ReporterFilter)
	if scope == "" {
		scope = "*"
	}
	by := []string{d.NamespaceTag, d.WorkloadTag, d.CodeTag}
	for _, t := range []string{grpcTagOf(d, det), d.RevisionTag, d.PodTag} {
		if t != "" {
			by = append(by, t)
		}
	}
	return fmt.Sprintf("sum:%s{%s} by {%s}.as_count()", d.Metric, scope, strings.Join(by, ","))
}

// grpcTagOf is the gRPC status tag the query groups by: "" when either it
// or detection.grpc_failure_codes is empty.
func grpcTagOf(d config.Datadog, det config.Detection) string {
	if det.GRPCFailureCodes == "" {
		return ""
	}
	return d.GRPCCodeTag
}

// Query returns the query sent on every poll.
func (s *Source) Query() string { return s.query }

// Observe asks Datadog for the counts up to at and returns the rates of
// every workload with data in the complete buckets of the rate window
// ending at or before at minus the ingestion delay, sorted by workload.
func (s *Source) Observe(ctx context.Context, at time.Time) ([]detector.Observation, error) {
	if until := s.blocked(); !until.IsZero() {
		return nil, s.fail(ReasonRateLimited, fmt.Errorf("query datadog: rate limit exhausted until %s: poll skipped",
			until.UTC().Format(time.RFC3339)))
	}
	qctx, cancel, err := s.keyed(ctx)
	if err != nil {
		return nil, s.fail(ReasonCredentials, fmt.Errorf("query datadog: %w", err))
	}
	defer cancel()

	// Ask for twice the window before the cutoff: the buckets used start
	// at most one bucket (no longer than the window) plus the window
	// before it, and Datadog returns only buckets starting at or after from.
	from := at.Add(-s.delay - 2*s.window)
	start := s.clock.Now()
	resp, httpResp, err := s.api.QueryMetrics(qctx, from.Unix(), at.Unix(), s.query)
	s.m.ObserveDuration(s.clock.Since(start))
	s.noteRateLimit(httpResp)
	if err != nil {
		return nil, s.fail(classify(err, httpResp), fmt.Errorf("query datadog: %w", describe(err)))
	}
	obs, skipped, reason, err := s.observations(resp, at, from.Unix()*1000)
	for r, n := range skipped {
		s.m.Skipped(r, n)
	}
	if len(skipped) > 0 {
		s.log.Debug("skipped malformed series", zap.Any("by_reason", skipped))
	}
	if err != nil {
		return nil, s.fail(reason, fmt.Errorf("query datadog: %w", err))
	}
	return obs, nil
}

// keyed returns ctx bounded by the query timeout, aimed at the site and
// carrying the API and application keys, read anew on every query (a
// mounted Secret may rotate).
func (s *Source) keyed(ctx context.Context) (context.Context, context.CancelFunc, error) {
	apiKey, err := config.ReadSecret(s.apiKeyFile, APIKeyEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("API key: %w", err)
	}
	appKey, err := config.ReadSecret(s.appKeyFile, AppKeyEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("application key: %w", err)
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	return context.WithValue(s.server(qctx), datadog.ContextAPIKeys, map[string]datadog.APIKey{
		"apiKeyAuth": {Key: apiKey.Reveal()}, "appKeyAuth": {Key: appKey.Reveal()},
	}), cancel, nil
}

func (s *Source) fail(reason string, err error) error {
	s.m.Failed(reason)
	return err
}

// blocked returns until when polls are skipped, zero when they are not.
func (s *Source) blocked() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clock.Now().Before(s.blockedUntil) {
		return s.blockedUntil
	}
	return time.Time{}
}

// noteRateLimit reads the rate-limit headers of a response. When the
// limit is exhausted (no request remaining, or 429) polls are skipped
// until it resets rather than spending more requests on refusals.
func (s *Source) noteRateLimit(r *http.Response) {
	if r == nil {
		return
	}
	h := r.Header
	seconds := func(name string) (time.Duration, bool) {
		n, err := strconv.ParseInt(strings.TrimSpace(h.Get(name)), 10, 64)
		if err != nil || n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	remaining, err := strconv.ParseInt(strings.TrimSpace(h.Get(headerRemaining)), 10, 64)
	exhausted := err == nil && remaining <= 0
	if r.StatusCode != http.StatusTooManyRequests && !exhausted {
		return
	}
	wait, ok := seconds(headerReset)
	if !ok {
		if wait, ok = seconds(headerPeriod); !ok {
			wait = defaultRateLimitWait
		}
	}
	until := s.clock.Now().Add(wait)
	s.mu.Lock()
	if until.After(s.blockedUntil) {
		s.blockedUntil = until
	}
	s.mu.Unlock()
	s.log.Warn("datadog rate limit exhausted: skipping polls until it resets",
		zap.Int("status", r.StatusCode), zap.String("limit", h.Get(headerLimit)),
		zap.String("period", h.Get(headerPeriod)), zap.Time("until", until))
}

// classify maps a query error to a reason.
func classify(err error, r *http.Response) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if urlErr.Timeout() {
			return ReasonTimeout
		}
		return ReasonUnavailable
	}
	if r == nil {
		return ReasonUnavailable
	}
	switch {
	case r.StatusCode == http.StatusTooManyRequests:
		return ReasonRateLimited
	case r.StatusCode >= 500:
		return ReasonUnavailable
	case r.StatusCode >= 400:
		return ReasonRejected
	}
	return ReasonBadResponse // a 2xx whose body did not decode
}

// describe adds Datadog's error messages ({"errors": [...]}) to the
// client's error, which only says the HTTP status.
func describe(err error) error {
	var apiErr datadog.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		if m, ok := apiErr.Model().(datadogV1.APIErrorResponse); ok && len(m.Errors) > 0 {
			return fmt.Errorf("%w: %s", err, strings.Join(m.Errors, "; "))
		}
	}
	return err
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
