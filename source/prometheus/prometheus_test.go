package prometheus

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promclient "github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/test/replaytest"
	"github.com/sentinel-sre/sentinel/workload"
)

// at is the evaluation time of the tests: 2026-04-24T23:51:30Z.
var at = time.Date(2026, 4, 24, 23, 51, 30, 0, time.UTC)

// fakeProm answers /api/v1/query and /api/v1/status/buildinfo in the shapes
// of the Prometheus HTTP API documentation, and records what it was asked.
type fakeProm struct {
	mu        sync.Mutex
	status    int
	body      string
	delay     time.Duration
	version   string // buildinfo version; "" answers 404, "-" one without a version
	failures  []int  // statuses buildinfo answers first, one per request
	queries   []http.Header
	forms     []map[string]string
	buildinfo int
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	status, body, delay, version := f.status, f.body, f.delay, f.version
	f.mu.Unlock()
	switch r.URL.Path {
	case "/api/v1/status/buildinfo":
		f.mu.Lock()
		f.buildinfo++
		failure := 0
		if len(f.failures) > 0 {
			failure, f.failures = f.failures[0], f.failures[1:]
		}
		f.mu.Unlock()
		if failure != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(failure)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"unavailable","error":"not ready"}`))
			return
		}
		if version == "" {
			http.NotFound(w, r)
			return
		}
		if version == "-" {
			version = ""
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"version":"` + version + `","revision":"x","branch":"x","buildUser":"x","buildDate":"x","goVersion":"go1.19.8"}}`))
		return
	case "/api/v1/query":
	default:
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.Header.Clone())
	f.forms = append(f.forms, map[string]string{"query": r.Form.Get("query"), "time": r.Form.Get("time"),
		"timeout": r.Form.Get("timeout")})
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (f *fakeProm) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

func (f *fakeProm) lastForm(t *testing.T) map[string]string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		t.Fatal("no query received")
	}
	return f.forms[len(f.forms)-1]
}

func testConfig(url string) config.Config {
	c := config.Default()
	c.Metrics.Prometheus.URL = url
	c.Metrics.Prometheus.Timeout = 2 * time.Second
	return c
}

func newTestSource(t *testing.T, cfg config.Config, opts ...Option) (*Source, *promclient.Registry) {
	t.Helper()
	reg := promclient.NewRegistry()
	s, err := New(cfg, reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func sample(ns, wl, class, v string) string {
	return `{"metric":{"destination_workload_namespace":"` + ns + `","destination_workload":"` + wl +
		`","sentinel_class":"` + class + `"},"value":[1777074690,"` + v + `"]}`
}

// revSample is a sample of one revision's pods.
func revSample(ns, wl, rev, class, v string) string {
	return `{"metric":{"destination_workload_namespace":"` + ns + `","destination_workload":"` + wl +
		`","sentinel_revision":"` + rev + `","sentinel_class":"` + class + `"},"value":[1777074690,"` + v + `"]}`
}

// grpcSample is a failed sample of the failures with one gRPC status
// ("" for those by response code).
func grpcSample(ns, wl, rev, status, v string) string {
	return `{"metric":{"destination_workload_namespace":"` + ns + `","destination_workload":"` + wl +
		`","sentinel_revision":"` + rev + `","grpc_response_status":"` + status +
		`","sentinel_class":"failed"},"value":[1777074690,"` + v + `"]}`
}

func vector(samples ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(samples, ",") + `]}}`
}

func TestObserve(t *testing.T) {
	engine := workload.Ref{Namespace: "scale-deploy", Name: "model-engine"}
	gateway := workload.Ref{Namespace: "scale-deploy", Name: "gateway"}
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		want      []detector.Observation
		errReason string // "" for success
		noData    bool   // the error wraps ErrNoData
		skipped   map[string]float64
	}{{
		name: "per-revision series sum to the workload and keep each revision's own rates",
		body: vector(revSample("scale-deploy", "model-engine", "7d9f8b6c4", "total", "10"),
			revSample("scale-deploy", "model-engine", "7d9f8b6c4", "failed", "9.5"),
			revSample("scale-deploy", "model-engine", "5c6b7d8e9", "total", "30"),
			revSample("scale-deploy", "model-engine", "5c6b7d8e9", "failed", "0.3"),
			sample("scale-deploy", "model-engine", "total", "1"), // pods without the label: totals only
			sample("scale-deploy", "gateway", "total", "25.5")),
		want: []detector.Observation{
			{Workload: gateway, Requests: 25.5},
			{Workload: engine, Requests: 41, Failures: 9.8, Revisions: []detector.RevisionTraffic{
				{Revision: "5c6b7d8e9", Requests: 30, Failures: 0.3}, {Revision: "7d9f8b6c4", Requests: 10, Failures: 9.5}}},
		},
	}, {
		name: "failures summed by gRPC status add up; a status twice is a duplicate",
		body: vector(revSample("shop", "cart", "7d9f8b6c4", "total", "10"),
			grpcSample("shop", "cart", "7d9f8b6c4", "14", "8"), grpcSample("shop", "cart", "7d9f8b6c4", "", "0.5"),
			grpcSample("shop", "cart", "7d9f8b6c4", "4", "1"),
			revSample("shop", "cart", "5c6b7d8e9", "total", "30"),
			grpcSample("shop", "cart", "5c6b7d8e9", "13", "0.25"),
			revSample("shop", "web", "1a2b3c4d5", "total", "10"),
			grpcSample("shop", "web", "1a2b3c4d5", "14", "1"), grpcSample("shop", "web", "1a2b3c4d5", "14", "2"),
			// INVALID_ARGUMENT, failed by its response code (500): not a gRPC failure.
			revSample("shop", "pay", "9f8e7d6c5", "total", "10"), grpcSample("shop", "pay", "9f8e7d6c5", "3", "2")),
		want: []detector.Observation{
			{Workload: workload.Ref{Namespace: "shop", Name: "cart"}, Requests: 40, Failures: 9.75, Revisions: []detector.RevisionTraffic{
				{Revision: "5c6b7d8e9", Requests: 30, Failures: 0.25}, {Revision: "7d9f8b6c4", Requests: 10, Failures: 9.5}},
				// What failed, for the page's words; the 0.5 failed by code.
				FailedBy: []detector.Failure{{GRPC: "13", Rate: 0.25}, {GRPC: "14", Rate: 8}, {GRPC: "4", Rate: 1}, {Rate: 0.5}}},
			{Workload: workload.Ref{Namespace: "shop", Name: "pay"}, Requests: 10, Failures: 2,
				Revisions: []detector.RevisionTraffic{{Revision: "9f8e7d6c5", Requests: 10, Failures: 2}}},
		},
		skipped: map[string]float64{SkipDuplicate: 1},
	}, {
		name: "a revision with failures but no total leaves its workload out",
		body: vector(revSample("scale-deploy", "model-engine", "7d9f8b6c4", "failed", "9.5"),
			revSample("scale-deploy", "model-engine", "5c6b7d8e9", "total", "30"),
			sample("scale-deploy", "gateway", "total", "25.5")),
		want:    []detector.Observation{{Workload: gateway, Requests: 25.5}},
		skipped: map[string]float64{SkipNoTotal: 1},
	}, {
		name: "success vector",
		body: vector(sample("scale-deploy", "model-engine", "total", "40"), sample("scale-deploy", "model-engine", "failed", "38.8"),
			sample("scale-deploy", "gateway", "total", "25.5")),
		want: []detector.Observation{{Workload: gateway, Requests: 25.5}, {Workload: engine, Requests: 40, Failures: 38.8}},
	}, {
		name:    "failed without total is unknown",
		body:    vector(sample("scale-deploy", "gateway", "total", "25"), sample("scale-deploy", "model-engine", "failed", "3")),
		want:    []detector.Observation{{Workload: gateway, Requests: 25}},
		skipped: map[string]float64{SkipNoTotal: 1},
	}, {
		name: "NaN sample leaves its workload out",
		body: vector(sample("scale-deploy", "model-engine", "total", "NaN"), sample("scale-deploy", "model-engine", "failed", "3"),
			sample("scale-deploy", "gateway", "total", "25")),
		want:    []detector.Observation{{Workload: gateway, Requests: 25}},
		skipped: map[string]float64{SkipBadValue: 1},
	}, {
		name: "negative and infinite failed rates leave their workload out",
		body: vector(sample("scale-deploy", "model-engine", "total", "40"), sample("scale-deploy", "model-engine", "failed", "-1"),
			sample("scale-deploy", "gateway", "total", "25"), sample("scale-deploy", "gateway", "failed", "+Inf"),
			sample("scale-deploy", "batch-api", "total", "5")),
		want:    []detector.Observation{{Workload: workload.Ref{Namespace: "scale-deploy", Name: "batch-api"}, Requests: 5}},
		skipped: map[string]float64{SkipBadValue: 2},
	}, {
		name: "missing labels, unknown workload, bad class and duplicates are skipped",
		body: vector(`{"metric":{"destination_workload":"x","sentinel_class":"total"},"value":[1777074690,"1"]}`,
			sample("unknown", "unknown", "total", "3"), sample("scale-deploy", "unknown", "total", "3"),
			sample("scale-deploy", "batch-api", "weird", "3"), sample("scale-deploy", "batch-api", "total", "3"),
			sample("scale-deploy", "model-engine", "total", "40"), sample("scale-deploy", "model-engine", "total", "41"),
			sample("scale-deploy", "gateway", "total", "25")),
		want:    []detector.Observation{{Workload: gateway, Requests: 25}},
		skipped: map[string]float64{SkipNoWorkload: 3, SkipBadClass: 1, SkipDuplicate: 1},
	}, {
		name: "fields and labels in any order, other labels and fields ignored, a native histogram skipped",
		body: `{"data":{"result":[` +
			`{"value":[1777074690,"40"],"metric":{"sentinel_class":"total","le":"x","destination_workload":"model-engine","destination_workload_namespace":"scale-deploy"}},` +
			`{"metric":{"destination_workload_namespace":"scale-deploy","destination_workload":"model-engine","sentinel_class":"failed"},"value":[1777074690,"2"],"extra":{"a":[1,2]}},` +
			`{"metric":{"destination_workload_namespace":"scale-deploy","destination_workload":"gateway","sentinel_class":"total"},"histogram":[1777074690,{"count":"1","sum":"1"}]}` +
			`],"resultType":"vector"},"infos":["x"],"status":"success"}`,
		want:    []detector.Observation{{Workload: engine, Requests: 40, Failures: 2}},
		skipped: map[string]float64{SkipBadValue: 1},
	}, {
		name:      "a value that is not a number",
		body:      vector(sample("scale-deploy", "gateway", "total", "forty")),
		errReason: ReasonInvalid, noData: true,
		skipped: map[string]float64{SkipBadValue: 1},
	}, {
		name:      "no answer at all",
		status:    http.StatusNoContent,
		errReason: ReasonBadResponse,
	}, {
		name:      "a success with an error's status code",
		status:    http.StatusBadRequest,
		body:      vector(sample("a", "b", "total", "1")),
		errReason: ReasonBadResponse,
	}, {
		name:      "every sample unusable",
		body:      vector(sample("scale-deploy", "model-engine", "total", "NaN")),
		errReason: ReasonInvalid, noData: true,
		skipped: map[string]float64{SkipBadValue: 1},
	}, {
		name:      "empty answer",
		body:      vector(),
		errReason: ReasonNoData, noData: true,
	}, {
		name:      "warnings",
		body:      `{"status":"success","warnings":["remote read: partial response"],"data":{"resultType":"vector","result":[` + sample("a", "b", "total", "1") + `]}}`,
		errReason: ReasonWarnings,
	}, {
		name:      "matrix result",
		body:      `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1777074690,"1"]]}]}}`,
		errReason: ReasonBadResponse,
	}, {
		name:      "scalar result",
		body:      `{"status":"success","data":{"resultType":"scalar","result":[1777074690,"1"]}}`,
		errReason: ReasonBadResponse,
	}, {
		name:      "malformed JSON",
		body:      `{"status":"success","data":{"resultType":"vector","result":[`,
		errReason: ReasonBadResponse,
	}, {
		name:      "execution error",
		status:    http.StatusUnprocessableEntity,
		body:      `{"status":"error","errorType":"execution","error":"expanding series: too many samples"}`,
		errReason: ReasonRejected,
	}, {
		name:      "bad data",
		status:    http.StatusBadRequest,
		body:      `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error"}`,
		errReason: ReasonRejected,
	}, {
		name:      "server timeout",
		status:    http.StatusServiceUnavailable,
		body:      `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`,
		errReason: ReasonTimeout,
	}, {
		name:      "server error",
		status:    http.StatusInternalServerError,
		body:      `oops`,
		errReason: ReasonUnavailable,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeProm{}
			fake.set(tc.status, tc.body)
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s, reg := newTestSource(t, testConfig(srv.URL), WithRanges(RangesLeftOpen))

			got, err := s.Observe(t.Context(), at)
			if tc.errReason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("observations (-want +got):\n%s", diff)
				}
			} else {
				replaytest.Failed(t, got, err, "prometheus", tc.noData)
			}
			wantErrors := map[string]float64{}
			if tc.errReason != "" {
				wantErrors[tc.errReason] = 1
			}
			if e := replaytest.Counts(t, reg, "sentinel_query_errors_total", "prometheus", errorReasons); !maps.Equal(e, wantErrors) {
				t.Errorf("sentinel_query_errors_total by reason %v, want %v", e, wantErrors)
			}
			if s := replaytest.Counts(t, reg, "sentinel_samples_skipped_total", "prometheus", skipReasons); !maps.Equal(s, tc.skipped) {
				t.Errorf("sentinel_samples_skipped_total by reason %v, want %v", s, tc.skipped)
			}
			if v := replaytest.Value(t, reg, "sentinel_query_duration_seconds", map[string]string{"source": "prometheus"}); v != 1 {
				t.Errorf("sentinel_query_duration_seconds count = %g, want 1", v)
			}
			form := fake.lastForm(t)
			if form["time"] != "1777074690" || form["timeout"] != "2s" || form["query"] != s.Query(RangesLeftOpen) {
				t.Errorf("sent %v, want time=1777074690 timeout=2s and the rendered query", form)
			}
		})
	}
}

func TestObserveTimeout(t *testing.T) {
	fake := &fakeProm{delay: 5 * time.Second}
	fake.set(http.StatusOK, vector())
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.Metrics.Prometheus.Timeout = 100 * time.Millisecond
	s, reg := newTestSource(t, cfg, WithRanges(RangesLeftOpen))
	start := time.Now()
	_, err := s.Observe(t.Context(), at)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s, want about the 100ms timeout", d)
	}
	if v := replaytest.Value(t, reg, "sentinel_query_errors_total", map[string]string{"reason": ReasonTimeout}); v != 1 {
		t.Errorf("timeouts = %g, want 1", v)
	}
}

func TestObserveCanceledAndUnreachable(t *testing.T) {
	fake := &fakeProm{}
	fake.set(http.StatusOK, vector())
	srv := httptest.NewServer(fake)
	s, reg := newTestSource(t, testConfig(srv.URL), WithRanges(RangesLeftOpen))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Observe(ctx, at); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	srv.Close()
	if _, err := s.Observe(t.Context(), at); err == nil {
		t.Fatal("want an error from a closed server")
	}
	for r, want := range map[string]float64{ReasonCanceled: 1, ReasonUnavailable: 1} {
		if v := replaytest.Value(t, reg, "sentinel_query_errors_total", map[string]string{"reason": r}); v != want {
			t.Errorf("%s = %g, want %g", r, v, want)
		}
	}
}

func TestRangesAuto(t *testing.T) {
	ok := vector(sample("a", "b", "total", "1"))
	for _, tc := range []struct {
		version string
		want    Ranges
	}{
		{"2.42.0+ds", RangesClosed},
		{"v2.53.1", RangesClosed},
		{"3.5.0", RangesLeftOpen},
		{"-", RangesLeftOpen}, // an answer without a version
		{"", RangesLeftOpen},  // no buildinfo endpoint (404)
	} {
		t.Run(tc.version, func(t *testing.T) {
			fake := &fakeProm{version: tc.version}
			fake.set(http.StatusOK, ok)
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s, _ := newTestSource(t, testConfig(srv.URL))
			for range 3 {
				if _, err := s.Observe(t.Context(), at); err != nil {
					t.Fatal(err)
				}
				if q := fake.lastForm(t)["query"]; q != s.Query(tc.want) {
					t.Fatalf("sent %s, want %s", q, s.Query(tc.want))
				}
			}
			if fake.buildinfo != 1 {
				t.Errorf("asked the version %d times, want once", fake.buildinfo)
			}
			if s.Query(RangesAuto) != s.Query(tc.want) {
				t.Errorf("Query(RangesAuto) = %s, want the %s query", s.Query(RangesAuto), tc.want)
			}
		})
	}

	t.Run("unreachable is asked again", func(t *testing.T) {
		fake := &fakeProm{version: "2.42.0"}
		fake.set(http.StatusOK, ok)
		srv := httptest.NewUnstartedServer(fake)
		s, reg := newTestSource(t, testConfig("http://"+srv.Listener.Addr().String()))
		srv.Listener.Close()
		if _, err := s.Observe(t.Context(), at); err == nil || !strings.HasPrefix(err.Error(), "query prometheus") {
			t.Fatalf("got %v, want a query error", err)
		}
		if v := replaytest.Value(t, reg, "sentinel_query_errors_total", map[string]string{"reason": ReasonUnavailable}); v != 1 {
			t.Errorf("unavailable = %g, want 1", v)
		}
		if s.Ranges() != RangesAuto {
			t.Errorf("ranges %s after an unreachable server, want auto", s.Ranges())
		}
		srv2 := httptest.NewServer(fake)
		defer srv2.Close()
		s.api, s.client, s.buildinfo = mustAPIs(t, srv2.URL)
		if _, err := s.Observe(t.Context(), at); err != nil {
			t.Fatal(err)
		}
		if q := fake.lastForm(t)["query"]; q != s.Query(RangesClosed) {
			t.Errorf("sent %s, want the closed-range query", q)
		}
	})

	t.Run("canceled fails the poll", func(t *testing.T) {
		fake := &fakeProm{version: "2.42.0"}
		fake.set(http.StatusOK, ok)
		srv := httptest.NewServer(fake)
		defer srv.Close()
		s, reg := newTestSource(t, testConfig(srv.URL))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Observe(ctx, at); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "ask prometheus its version") {
			t.Fatalf("got %v, want a canceled version error", err)
		}
		if v := replaytest.Value(t, reg, "sentinel_query_errors_total", map[string]string{"reason": ReasonCanceled}); v != 1 {
			t.Errorf("canceled = %g, want 1", v)
		}
		if len(fake.forms) != 0 || s.Ranges() != RangesAuto {
			t.Errorf("sent %d queries, ranges %s; want none, auto", len(fake.forms), s.Ranges())
		}
	})
}

// TestRangesAutoRetried: an answer that is neither a version nor a 404
// (Prometheus starting, a proxy refusing) does not settle the ranges: the
// poll uses left-open ones, the next poll asks again, and the failure is
// logged once.
func TestRangesAutoRetried(t *testing.T) {
	ok := vector(sample("a", "b", "total", "1"))
	for _, tc := range []struct {
		name     string
		failures []int
	}{
		{"503 then 2.42", []int{http.StatusServiceUnavailable}},
		{"401 and 500 then 2.42", []int{http.StatusUnauthorized, http.StatusInternalServerError}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeProm{version: "2.42.0", failures: tc.failures}
			fake.set(http.StatusOK, ok)
			srv := httptest.NewServer(fake)
			defer srv.Close()
			core, logs := observer.New(zap.InfoLevel)
			s, reg := newTestSource(t, testConfig(srv.URL), WithLogger(zap.New(core)))
			for i := range tc.failures {
				if _, err := s.Observe(t.Context(), at); err != nil {
					t.Fatalf("poll %d: %v", i, err)
				}
				if q := fake.lastForm(t)["query"]; q != s.Query(RangesLeftOpen) {
					t.Fatalf("poll %d sent %s, want the left-open query", i, q)
				}
				if s.Ranges() != RangesAuto {
					t.Fatalf("poll %d: ranges %s, want still auto", i, s.Ranges())
				}
			}
			for i := range 2 {
				if _, err := s.Observe(t.Context(), at); err != nil {
					t.Fatal(err)
				}
				if q := fake.lastForm(t)["query"]; q != s.Query(RangesClosed) {
					t.Fatalf("poll %d after the version sent %s, want the closed query %s", i, q, s.Query(RangesClosed))
				}
			}
			if want := len(tc.failures) + 1; fake.buildinfo != want {
				t.Errorf("asked the version %d times, want %d", fake.buildinfo, want)
			}
			if s.Ranges() != RangesClosed {
				t.Errorf("ranges %s, want closed", s.Ranges())
			}
			if n := logs.FilterMessageSnippet("cannot ask prometheus its version").Len(); n != 1 {
				t.Errorf("logged the version failure %d times, want once", n)
			}
			if n := logs.FilterMessage("prometheus range selection").Len(); n != 1 {
				t.Errorf("logged the range selection %d times, want once", n)
			}
			for _, r := range errorReasons {
				if v := replaytest.Value(t, reg, "sentinel_query_errors_total", map[string]string{"reason": r}); v != 0 {
					t.Errorf("sentinel_query_errors_total{reason=%q} = %g, want 0: every query succeeded", r, v)
				}
			}
		})
	}
}

// mustAPIs returns the query API, client and buildinfo API of a source
// for url.
func mustAPIs(t *testing.T, url string) (v1.API, api.Client, v1.API) {
	t.Helper()
	s, err := New(testConfig(url), promclient.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s.api, s.client, s.buildinfo
}

func TestMetricsPreCreatedAndShared(t *testing.T) {
	reg := promclient.NewRegistry()
	cfg := testConfig("http://127.0.0.1:1")
	if _, err := New(cfg, reg); err != nil {
		t.Fatal(err)
	}
	// A second source (a restart of the wiring, or another backend) on the
	// same registry reuses the collectors.
	if _, err := New(cfg, reg); err != nil {
		t.Fatal(err)
	}
	replaytest.PreCreated(t, reg, errorReasons, skipReasons)
}

func TestBearerTokenFileReread(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = w.Write([]byte(vector(sample("a", "b", "total", "1"))))
	}))
	defer srv.Close()
	token := filepath.Join(t.TempDir(), "token")
	write(t, token, "first\n")
	cfg := testConfig(srv.URL)
	cfg.Metrics.Prometheus.BearerTokenFile = token
	s, _ := newTestSource(t, cfg, WithRanges(RangesLeftOpen))
	observe(t, s)
	write(t, token, "second")
	observe(t, s)
	if diff := cmp.Diff([]string{"Bearer first", "Bearer second"}, auth); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}

	cfg.Metrics.Prometheus.BearerTokenFile = filepath.Join(t.TempDir(), "missing")
	if _, err := New(cfg, promclient.NewRegistry()); err == nil || !strings.Contains(err.Error(), "metrics.prometheus.bearer_token_file") {
		t.Errorf("missing token file: got %v", err)
	}
}

func TestBasicAuthAndTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "sentinel" || p != "hunter2" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(vector(sample("a", "b", "total", "1"))))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	write(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	pw := filepath.Join(dir, "password")
	write(t, pw, "hunter2\n")

	cfg := testConfig(srv.URL)
	cfg.Metrics.Prometheus.BasicAuth = config.BasicAuth{Username: "sentinel", PasswordFile: pw}
	cfg.Metrics.Prometheus.TLS.CAFile = ca
	s, _ := newTestSource(t, cfg, WithRanges(RangesLeftOpen))
	observe(t, s)

	// Without the CA the server is not trusted.
	cfg.Metrics.Prometheus.TLS.CAFile = ""
	s, reg := newTestSource(t, cfg, WithRanges(RangesLeftOpen))
	_, err := s.Observe(t.Context(), at)
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Errorf("got %v, want an unknown authority error", err)
	}
	if v := replaytest.Value(t, reg, "sentinel_query_errors_total", map[string]string{"reason": ReasonUnavailable}); v != 1 {
		t.Errorf("unavailable = %g, want 1", v)
	}

	// A wrong password is the server rejecting the request.
	write(t, pw, "wrong")
	cfg.Metrics.Prometheus.TLS.CAFile = ca
	s, reg = newTestSource(t, cfg, WithRanges(RangesLeftOpen))
	if _, err := s.Observe(t.Context(), at); err == nil {
		t.Fatal("want an error for a wrong password")
	}
	if v := replaytest.Value(t, reg, "sentinel_query_errors_total", map[string]string{"reason": ReasonRejected}); v != 1 {
		t.Errorf("rejected = %g, want 1", v)
	}
}

func observe(t *testing.T, s *Source) []detector.Observation {
	t.Helper()
	obs, err := s.Observe(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stalledBody answers no read until it is closed, as the body of a
// transport that ignores the request's context might.
type stalledBody struct {
	closed chan struct{}
	once   sync.Once
}

func (b *stalledBody) Read([]byte) (int, error) {
	<-b.closed
	return 0, errors.New("read on a closed body")
}

func (b *stalledBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

type stallingTransport struct{}

func (stallingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: r,
		Body: &stalledBody{closed: make(chan struct{})}}, nil
}

// TestObserveEndsWithItsContext: the answer is read by sentinel (answer.go),
// not by client_golang's Do, which closed the body when the context ended;
// a client given with WithHTTPClient whose body ignores the context must
// not hold a poll past its deadline.
func TestObserveEndsWithItsContext(t *testing.T) {
	s, err := New(testConfig("http://prometheus.invalid"), nil, WithRanges(RangesLeftOpen),
		WithHTTPClient(&http.Client{Transport: stallingTransport{}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Observe(ctx, at); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Observe with a stalled body: %v, want the context's deadline", err)
	}
}
