// Package fakedd is a loopback fake of the one Datadog API endpoint
// sentinel uses, GET /api/v1/query ("Query timeseries points"), for tests
// that drive the real datadog-api-client-go against it. It answers as the
// API reference and recorded answers show, newest bucket incomplete and
// rate limits enforced, from Points a test gives or FromOpenMetrics
// converts. See docs/metrics.md#testing-without-datadog.
package fakedd

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Point is one count submitted to Datadog: what was counted since the
// previous submission of the same tag set, at time T.
type Point struct {
	Tags []string // "key:value"
	T    time.Time
	V    float64
}

// Options configure a Server.
type Options struct {
	// APIKey and AppKey must be sent as DD-API-KEY and DD-APPLICATION-KEY;
	// a wrong or missing key is answered 403.
	APIKey, AppKey string
	// Metric is the metric the points are of; a query for another metric
	// finds no series.
	Metric string
	// Interval is the rollup interval (default 15s).
	Interval time.Duration
	// Lag is the ingestion lag: points later than the query's end minus
	// Lag are not visible yet.
	Lag time.Duration
	// Nulls writes empty buckets as [t, null] rather than leaving them out.
	Nulls bool
	// RateLimit is the number of requests allowed per RatePeriod (default
	// 1h); 0 is no limit. The headers are sent either way.
	RateLimit  int
	RatePeriod time.Duration
	// Clock times rate-limit periods (default: the real clock).
	Clock clock.PassiveClock
}

// Request is one request the server received.
type Request struct {
	From, To int64 // seconds, as sent
	Query    string
	// KeysOK is whether both keys were right.
	KeysOK bool
	Status int
}

// Failure is an answer the server gives instead of the real one.
type Failure struct {
	Status int
	Header http.Header
	Body   string
}

// TooManyRequests is a 429 saying the limit resets in reset.
func TooManyRequests(reset time.Duration) Failure {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "100")
	h.Set("X-RateLimit-Period", "3600")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.Itoa(int(reset/time.Second)))
	return Failure{Status: http.StatusTooManyRequests, Header: h, Body: `{"errors":["Too many requests"]}`}
}

// ServerError is a 500.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Body: `{"errors":["Internal Server Error"]}`}
}

// Malformed is a 200 whose JSON is cut off.
func Malformed() Failure {
	return Failure{Status: http.StatusOK, Body: `{"status":"ok","series":[{"pointlist":[[1777`}
}

// Server is the fake. Close it when done.
type Server struct {
	// URL is the base URL to configure as metrics.datadog.url.
	URL string

	srv  *httptest.Server
	opts Options

	mu          sync.Mutex
	points      []Point
	failures    []Failure
	requests    []Request
	windowStart time.Time
	used        int
}

// New starts a server on loopback.
func New(o Options) *Server {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.RatePeriod <= 0 {
		o.RatePeriod = time.Hour
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	s := &Server{opts: o}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Add adds points.
func (s *Server) Add(points ...Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.points = append(s.points, points...)
}

// FailNext makes the next requests get these answers, in order.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

var queryRE = regexp.MustCompile(`^sum:([^{}\s]+)\{([^{}]*)\} by \{([^{}]*)\}\.as_count\(\)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != "/api/v1/query" {
		writeJSON(w, http.StatusNotFound, map[string][]string{"errors": {"Not found"}})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string][]string{"errors": {"Method not allowed"}})
		return
	}
	q := r.URL.Query()
	req := Request{Query: q.Get("query"),
		KeysOK: r.Header.Get("DD-API-KEY") == s.opts.APIKey && s.opts.APIKey != "" &&
			r.Header.Get("DD-APPLICATION-KEY") == s.opts.AppKey && s.opts.AppKey != ""}
	var err1, err2 error
	req.From, err1 = strconv.ParseInt(q.Get("from"), 10, 64)
	req.To, err2 = strconv.ParseInt(q.Get("to"), 10, 64)
	status := s.answer(w, req, err1 == nil && err2 == nil)
	req.Status = status
	s.requests = append(s.requests, req)
}

// answer writes the response and returns its status.
func (s *Server) answer(w http.ResponseWriter, req Request, timesOK bool) int {
	if !req.KeysOK {
		return writeJSON(w, http.StatusForbidden, map[string][]string{"errors": {"Forbidden"}})
	}
	if limited := s.rateLimit(w.Header()); limited {
		return writeJSON(w, http.StatusTooManyRequests, map[string][]string{"errors": {"Too many requests"}})
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		for k, v := range f.Header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return f.Status
	}
	if !timesOK || req.From >= req.To {
		return writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": {"Invalid from or to"}})
	}
	m := queryRE.FindStringSubmatch(req.Query)
	if m == nil {
		return writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": {"Error parsing query: " + req.Query}})
	}
	return writeJSON(w, http.StatusOK, s.query(req, m[1], m[2], strings.Split(m[3], ",")))
}

// rateLimit counts the request, sets the headers and reports whether the
// limit is exceeded.
func (s *Server) rateLimit(h http.Header) bool {
	now := s.opts.Clock.Now()
	if s.windowStart.IsZero() || !now.Before(s.windowStart.Add(s.opts.RatePeriod)) {
		s.windowStart, s.used = now, 0
	}
	s.used++
	limit := s.opts.RateLimit
	if limit <= 0 {
		limit = math.MaxInt32
	}
	reset := int(math.Ceil(s.windowStart.Add(s.opts.RatePeriod).Sub(now).Seconds()))
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Period", strconv.Itoa(int(s.opts.RatePeriod/time.Second)))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, limit-s.used)))
	h.Set("X-RateLimit-Reset", strconv.Itoa(reset))
	h.Set("X-RateLimit-Name", "metrics_query")
	return s.used > limit
}

type series struct {
	Aggr        string        `json:"aggr"`
	DisplayName string        `json:"display_name"`
	End         int64         `json:"end"`
	Expression  string        `json:"expression"`
	Interval    int64         `json:"interval"`
	Length      int           `json:"length"`
	Metric      string        `json:"metric"`
	Pointlist   [][2]*float64 `json:"pointlist"`
	QueryIndex  int           `json:"query_index"`
	Scope       string        `json:"scope"`
	Start       int64         `json:"start"`
	TagSet      []string      `json:"tag_set"`
	Unit        any           `json:"unit"`
	Attributes  struct{}      `json:"attributes"`
}

type response struct {
	Status      string   `json:"status"`
	ResType     string   `json:"res_type"`
	RespVersion int      `json:"resp_version"`
	Query       string   `json:"query"`
	FromDate    int64    `json:"from_date"`
	ToDate      int64    `json:"to_date"`
	GroupBy     []string `json:"group_by"`
	Series      []series `json:"series"`
	Message     string   `json:"message"`
	Times       []int64  `json:"times"`
	Values      []any    `json:"values"`
}

// query evaluates sum:metric{scope} by {groups}.as_count() over the points.
func (s *Server) query(req Request, metric, scope string, groups []string) response {
	resp := response{Status: "ok", ResType: "time_series", RespVersion: 1, Query: req.Query,
		FromDate: req.From * 1000, ToDate: req.To * 1000, GroupBy: groups, Series: []series{}, Times: []int64{}, Values: []any{}}
	if metric != s.opts.Metric {
		return resp
	}
	var filter []string
	for _, f := range strings.Split(scope, ",") {
		if f = strings.TrimSpace(f); f != "" && f != "*" {
			filter = append(filter, f)
		}
	}
	iv := s.opts.Interval.Milliseconds()
	first := ceilDiv(req.From*1000, iv) * iv           // buckets start at or after from
	visible := req.To*1000 - s.opts.Lag.Milliseconds() // nothing later is ingested yet
	last := floorDiv(req.To*1000, iv) * iv             // the bucket holding to, however full

	sums := map[string]map[int64]float64{}
	tagSets := map[string][]string{}
	for _, p := range s.points {
		t := p.T.UnixMilli()
		if t > visible || t > req.To*1000 || !hasAll(p.Tags, filter) {
			continue
		}
		b := floorDiv(t, iv) * iv
		if b < first {
			continue
		}
		tags := groupTags(p.Tags, groups)
		key := strings.Join(tags, ",")
		if sums[key] == nil {
			sums[key] = map[int64]float64{}
			tagSets[key] = tags
		}
		sums[key][b] += p.V
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var pl [][2]*float64
		for b := first; b <= last; b += iv {
			v, ok := sums[k][b]
			switch {
			case ok:
				pl = append(pl, [2]*float64{ptr(float64(b)), ptr(v)})
			case s.opts.Nulls:
				pl = append(pl, [2]*float64{ptr(float64(b)), nil})
			}
		}
		if len(pl) == 0 {
			continue
		}
		start, end := int64(*pl[0][0]), int64(*pl[len(pl)-1][0])+iv-1000
		expr := fmt.Sprintf("sum:%s{%s}.as_count()", metric, strings.Join(append([]string{scope}, tagSets[k]...), ","))
		resp.Series = append(resp.Series, series{Aggr: "sum", DisplayName: metric, End: end, Expression: expr,
			Interval: iv / 1000, Length: len(pl), Metric: metric, Pointlist: pl, Scope: strings.Join(append([]string{scope}, tagSets[k]...), ","),
			Start: start, TagSet: tagSets[k]})
	}
	return resp
}

// groupTags returns the point's value of each group-by tag, N/A when it
// has none, as Datadog does.
func groupTags(tags, groups []string) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g + ":N/A"
		for _, t := range tags {
			if k, _, _ := strings.Cut(t, ":"); k == g {
				out[i] = t
				break
			}
		}
	}
	return out
}

func hasAll(tags, want []string) bool {
	for _, w := range want {
		found := false
		for _, t := range tags {
			if t == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

func ptr(v float64) *float64 { return &v }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
