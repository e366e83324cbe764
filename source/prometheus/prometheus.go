// Package prometheus is sentinel's metric source over the Prometheus HTTP
// API: one instant query per poll, evaluated at the poll's own time, gives
// every workload's request and failure rates, so the same code answers
// live polls and, through Range, a backtest of history. The query is
// rendered from configuration (RenderQuery) and parsed as PromQL at
// start-up; a missing answer is an error, never a healthy one. See
// docs/metrics.md.
package prometheus

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promclient "github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// Source queries Prometheus. It is safe for concurrent use.
type Source struct {
	api       v1.API
	client    api.Client        // api's: the instant query's answer is decoded here (answer.go)
	http      *http.Client      // the client api's sends with; the instant query's too
	bodies    bodies            // the instant query's answer buffers
	buildinfo v1.API            // api, but a 404 is errNoBuildinfo
	queries   map[Ranges]string // RangesLeftOpen and RangesClosed
	timeout   time.Duration
	nsLabel   model.LabelName
	wlLabel   model.LabelName
	grpcLabel model.LabelName // failed series are summed by it; "" when no gRPC status is judged
	grpcCodes *regexp.Regexp  // detection.grpc_failure_codes; nil with grpcLabel ""
	clock     clock.PassiveClock
	log       *zap.Logger
	m         *source.Metrics

	mu     sync.Mutex
	ranges Ranges // RangesAuto until the server has said its version
	warned bool   // a failure to ask the version was logged
}

// Option changes how New builds a Source.
type Option func(*options)

type options struct {
	client *http.Client
	clock  clock.PassiveClock
	log    *zap.Logger
	ranges Ranges
}

// WithHTTPClient sends queries with c instead of the client New builds
// from metrics.prometheus (bearer token, basic auth, TLS).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithClock measures query durations on c (default: the real clock).
func WithClock(c clock.PassiveClock) Option { return func(o *options) { o.clock = c } }

// WithLogger logs on l (default: no logs): the server's range selection
// once at info level, the first failure to ask its version at warn level,
// skipped samples at debug level.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithRanges fixes how the server selects range samples instead of asking
// its version (RangesAuto, the default).
func WithRanges(r Ranges) Option { return func(o *options) { o.ranges = r } }

// New returns a Source for cfg.Metrics.Prometheus, using
// cfg.Detection.RateWindow and FailureCodes in its query, and registers
// its metrics with reg. cfg must be valid (config.Validate).
func New(cfg config.Config, reg promclient.Registerer, opts ...Option) (*Source, error) {
	o := options{clock: clock.RealClock{}, log: zap.NewNop()}
	for _, opt := range opts {
		opt(&o)
	}
	p := cfg.Metrics.Prometheus
	queries, err := renderQueries(p, cfg.Detection)
	if err != nil {
		return nil, err
	}
	if o.client == nil {
		if o.client, err = NewHTTPClient(p); err != nil {
			return nil, err
		}
	}
	c, err := api.NewClient(api.Config{Address: p.URL, Client: o.client})
	if err != nil {
		return nil, fmt.Errorf("metrics.prometheus.url: %w", err)
	}
	m, err := source.NewMetrics(reg, sourceLabel, errorReasons, skipReasons)
	if err != nil {
		return nil, fmt.Errorf("register prometheus source metrics: %w", err)
	}
	grpcLabel := NewQueryData(p, cfg.Detection, RangesLeftOpen).GRPCLabel
	var grpcCodes *regexp.Regexp
	if grpcLabel != "" {
		if grpcCodes, err = config.CompileGRPCCodes(cfg.Detection.GRPCFailureCodes); err != nil {
			return nil, fmt.Errorf("detection.grpc_failure_codes: %w", err)
		}
	}
	return &Source{
		api: v1.NewAPI(c), client: c, http: o.client, bodies: make(bodies, 2), buildinfo: v1.NewAPI(notFoundClient{c}),
		queries: queries, timeout: p.Timeout, ranges: o.ranges,
		nsLabel: model.LabelName(p.NamespaceLabel), wlLabel: model.LabelName(p.WorkloadLabel),
		grpcLabel: model.LabelName(grpcLabel), grpcCodes: grpcCodes,
		clock: o.clock, log: o.log, m: m,
	}, nil
}

// NewHTTPClient builds the HTTP client for p's authentication and TLS
// with prometheus/common/config. Token and password files are read on
// every request and TLS files reloaded when they change; they are read
// once here so a missing file fails at start-up.
func NewHTTPClient(p config.Prometheus) (*http.Client, error) {
	hc := commoncfg.HTTPClientConfig{
		FollowRedirects: true,
		EnableHTTP2:     true,
		TLSConfig: commoncfg.TLSConfig{
			CAFile: p.TLS.CAFile, CertFile: p.TLS.CertFile, KeyFile: p.TLS.KeyFile,
			ServerName: p.TLS.ServerName, InsecureSkipVerify: p.TLS.InsecureSkipVerify,
		},
	}
	if p.BearerTokenFile != "" {
		if err := readable(p.BearerTokenFile); err != nil {
			return nil, fmt.Errorf("metrics.prometheus.bearer_token_file: %w", err)
		}
		hc.Authorization = &commoncfg.Authorization{Type: "Bearer", CredentialsFile: p.BearerTokenFile}
	}
	if p.BasicAuth.Username != "" {
		if p.BasicAuth.PasswordFile != "" {
			if err := readable(p.BasicAuth.PasswordFile); err != nil {
				return nil, fmt.Errorf("metrics.prometheus.basic_auth.password_file: %w", err)
			}
		}
		hc.BasicAuth = &commoncfg.BasicAuth{Username: p.BasicAuth.Username, PasswordFile: p.BasicAuth.PasswordFile}
	}
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("metrics.prometheus: %w", err)
	}
	c, err := commoncfg.NewClientFromConfig(hc, "sentinel_prometheus")
	if err != nil {
		return nil, fmt.Errorf("metrics.prometheus: %w", err)
	}
	return c, nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// Query returns the PromQL sent on every poll to a server whose ranges
// are r (RangesAuto: the one chosen so far, left-open until the server
// has said its version).
func (s *Source) Query(r Ranges) string {
	if r == RangesAuto {
		r = s.Ranges()
	}
	if r == RangesClosed {
		return s.queries[RangesClosed]
	}
	return s.queries[RangesLeftOpen]
}

// Ranges returns how the server selects range samples: the WithRanges
// option, or what its version said (RangesAuto until it has answered).
func (s *Source) Ranges() Ranges {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ranges
}

// errNoBuildinfo is a 404 from the buildinfo endpoint: the server has
// none. client_golang reports every 4xx alike, so notFoundClient tells
// this one apart.
var errNoBuildinfo = errors.New("no buildinfo endpoint (404)")

// notFoundClient is c, except that a 404 is errNoBuildinfo.
type notFoundClient struct{ api.Client }

func (c notFoundClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := c.Client.Do(ctx, req)
	if err == nil && resp.StatusCode == http.StatusNotFound {
		return resp, body, errNoBuildinfo
	}
	return resp, body, err
}

// rangesOf returns how the server selects range samples, asking its
// version until it says. The choice is settled only by the server:
// buildinfo with a 2.x version is closed; with another version, or none
// (a proxy, another implementation), or a 404 (no such endpoint) it is
// left-open. Any other failure (unreachable, 5xx while starting, 401, an
// undecodable body) settles nothing: that poll uses left-open ranges and
// the next asks again, so one bad answer does not fix the choice for
// good; it is logged once. Only a done ctx fails the poll.
func (s *Source) rangesOf(ctx context.Context) (Ranges, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ranges != RangesAuto {
		return s.ranges, nil
	}
	bi, err := s.buildinfo.Buildinfo(ctx)
	switch {
	case err == nil, errors.Is(err, errNoBuildinfo):
	case ctx.Err() != nil:
		return RangesAuto, fmt.Errorf("ask prometheus its version: %w", err)
	default:
		if !s.warned {
			s.warned = true
			s.log.Warn("cannot ask prometheus its version: using left-open ranges until it answers",
				zap.Error(err), zap.String("query", s.queries[RangesLeftOpen]))
		}
		return RangesLeftOpen, nil
	}
	s.ranges = RangesLeftOpen
	if err == nil && majorVersion(bi.Version) == "2" {
		s.ranges = RangesClosed
	}
	s.log.Info("prometheus range selection", zap.String("version", bi.Version), zap.NamedError("version_error", err),
		zap.Stringer("ranges", s.ranges), zap.String("query", s.queries[s.ranges]))
	return s.ranges, nil
}

func majorVersion(v string) string {
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	return major
}

// Observe runs the query at at and returns the rates of every workload
// with a total rate, sorted by workload. A workload with a total but no
// failed series had no failures; one with no total, or with a malformed
// sample, is left out.
func (s *Source) Observe(ctx context.Context, at time.Time) ([]detector.Observation, error) {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ranges, err := s.rangesOf(qctx)
	if err != nil {
		return nil, s.fail(classify(err), err)
	}
	start := s.clock.Now()
	samples, warnings, err := s.instantQuery(qctx, s.queries[ranges], at)
	s.m.ObserveDuration(s.clock.Since(start))
	if err != nil {
		return nil, s.fail(classify(err), fmt.Errorf("query prometheus: %w", err))
	}
	if len(warnings) > 0 {
		return nil, s.fail(ReasonWarnings, fmt.Errorf("query prometheus: the answer may be partial: %s",
			strings.Join(warnings, "; ")))
	}
	return s.vectorAnswer(samples)
}

func (s *Source) fail(reason string, err error) error {
	s.m.Failed(reason)
	return err
}

func typeOf(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}

// classify maps a query error to a reason.
func classify(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	}
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Type {
		case v1.ErrTimeout:
			return ReasonTimeout
		case v1.ErrCanceled:
			return ReasonCanceled
		case v1.ErrBadData, v1.ErrExec, v1.ErrClient, "not_found", "not_acceptable":
			return ReasonRejected
		case v1.ErrBadResponse:
			return ReasonBadResponse
		case v1.ErrServer:
			// Prometheus answers a query timeout with 503 and errorType timeout.
			if strings.Contains(apiErr.Detail, `"errorType":"timeout"`) {
				return ReasonTimeout
			}
		}
		return ReasonUnavailable
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if urlErr.Timeout() {
			return ReasonTimeout
		}
		return ReasonUnavailable
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
		return ReasonBadResponse
	}
	// Anything else comes from decoding the result.
	return ReasonBadResponse
}

// rates are the total and failed rates of one workload's revision ("":
// series without a revision label). Its failed samples, one per gRPC
// status, come in status order.
type rates struct {
	total, failed       float64
	hasTotal, hasFailed bool
	lastFailed          string // the gRPC status of the last failed sample taken
}

// observations turns the answer into observations and counts the skipped
// samples by reason. It sorts the samples by workload and revision and
// reads each workload's run of them: at 5,000 workloads a poll then
// allocates its observations and little else (no map per workload).
func (s *Source) observations(samples []series) ([]detector.Observation, map[string]int) {
	skipped := map[string]int{}
	slices.SortFunc(samples, func(a, b series) int {
		return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.wl, b.wl), cmp.Compare(a.rev, b.rev),
			cmp.Compare(a.class, b.class), cmp.Compare(a.grpc, b.grpc))
	})
	out := make([]detector.Observation, 0, len(samples)/2)
	// Every observation's revisions share one array, each capped at its own.
	revs := make([]detector.RevisionTraffic, 0, len(samples)/2)
	for len(samples) > 0 {
		n := runLen(samples, func(a, b series) bool { return a.ns == b.ns && a.wl == b.wl })
		run := samples[:n]
		samples = samples[n:]
		w := workload.Ref{Namespace: run[0].ns, Name: run[0].wl}
		if source.Unattributed(w.Namespace, w.Name) {
			// Istio reports requests it cannot attribute as "unknown".
			skipped[SkipNoWorkload] += len(run)
			continue
		}
		from := len(revs)
		o, ok := observation(w, run, &revs, skipped)
		if ok && s.grpcCodes != nil {
			o.FailedBy = failedBy(run, s.grpcCodes)
		}
		if !ok {
			revs = revs[:from]
			continue
		}
		if len(revs) > from {
			o.Revisions = revs[from:len(revs):len(revs)]
		}
		out = append(out, o)
	}
	return out, skipped
}

// observation sums one workload's samples, sorted by revision, appending
// its revisions to revs. It has none when a sample is skipped (counted in
// skipped by its reason: half an answer is no answer), or when a revision
// has failures but no total (no ratio can be trusted: SkipNoTotal).
func observation(w workload.Ref, run []series, revs *[]detector.RevisionTraffic, skipped map[string]int) (detector.Observation, bool) {
	o := detector.Observation{Workload: w}
	bad, noTotal := false, false
	for len(run) > 0 {
		n := runLen(run, func(a, b series) bool { return a.rev == b.rev })
		var r rates
		for _, smp := range run[:n] {
			if reason := r.add(smp); reason != "" {
				skipped[reason]++
				bad = true
			}
		}
		noTotal = noTotal || !r.hasTotal
		// No failed series means no request matched the failure codes.
		o.Requests += r.total
		o.Failures += r.failed
		if rev := run[0].rev; rev != "" {
			*revs = append(*revs, detector.RevisionTraffic{Revision: rev, Requests: r.total, Failures: r.failed})
		}
		run = run[n:]
	}
	if !bad && noTotal {
		skipped[SkipNoTotal]++
	}
	return o, !bad && !noTotal
}

// failedBy splits a workload's failed samples by the gRPC status they
// failed with (source.Failures); a status grpc does not match failed by
// its response code.
func failedBy(run []series, grpc *regexp.Regexp) []detector.Failure {
	var f source.Failures
	for _, smp := range run {
		if smp.class != ClassFailed {
			continue
		}
		kind := smp.grpc
		if kind != "" && !grpc.MatchString(kind) {
			kind = ""
		}
		f.Add(kind, smp.value)
	}
	return f.Rates(1)
}

// runLen is how many samples from the first are the same as it.
func runLen(samples []series, same func(a, b series) bool) int {
	n := 1
	for n < len(samples) && same(samples[n], samples[0]) {
		n++
	}
	return n
}

// add takes one sample; it returns why it was skipped, or "".
func (r *rates) add(smp series) string {
	v := smp.value
	if smp.bad || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return SkipBadValue
	}
	switch smp.class {
	case ClassTotal:
		if r.hasTotal {
			return SkipDuplicate
		}
		r.total, r.hasTotal = v, true
	case ClassFailed:
		// One failed sample per gRPC status (one in all without them).
		if r.hasFailed && smp.grpc == r.lastFailed {
			return SkipDuplicate
		}
		r.failed += v
		r.hasFailed, r.lastFailed = true, smp.grpc
	default:
		return SkipBadClass
	}
	return ""
}
