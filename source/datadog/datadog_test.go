package datadog

import (
	"flag"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	promclient "github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/test/fakedd"
	"github.com/sentinel-sre/sentinel/test/replaytest"
	"github.com/sentinel-sre/sentinel/workload"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const (
	apiKey = "api-key-0123456789"
	appKey = "app-key-9876543210"
)

// at is the evaluation time of the tests, on the 15 s poll grid.
var at = time.Date(2026, 4, 24, 23, 51, 30, 0, time.UTC)

var (
	cart = workload.Ref{Namespace: "shop", Name: "cart"}
	web  = workload.Ref{Namespace: "shop", Name: "web"}
)

func tags(ns, wl, code string, extra ...string) []string {
	return append([]string{"reporter:destination", "destination_workload_namespace:" + ns,
		"destination_workload:" + wl, "response_code:" + code}, extra...)
}

// every returns a point with v every step from from (inclusive) to to
// (exclusive).
func every(tags []string, from, to time.Time, step time.Duration, v float64) []fakedd.Point {
	var out []fakedd.Point
	for t := from; t.Before(to); t = t.Add(step) {
		out = append(out, fakedd.Point{Tags: tags, T: t, V: v})
	}
	return out
}

func newFake(t *testing.T, o fakedd.Options) *fakedd.Server {
	t.Helper()
	o.APIKey, o.AppKey = apiKey, appKey
	if o.Metric == "" {
		o.Metric = "istio.mesh.request.count.total"
	}
	s := fakedd.New(o)
	t.Cleanup(s.Close)
	return s
}

func testConfig(url string) config.Config {
	c := config.Default()
	c.Metrics.Source = "datadog"
	c.Metrics.Datadog.URL = url
	c.Metrics.Datadog.Timeout = 2 * time.Second
	return c
}

func newTestSource(t *testing.T, cfg config.Config, opts ...Option) (*Source, *promclient.Registry) {
	t.Helper()
	t.Setenv(APIKeyEnv, apiKey)
	t.Setenv(AppKeyEnv, appKey)
	reg := promclient.NewRegistry()
	s, err := New(cfg, reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// errorsBy and skippedBy are the non-zero counts of the source's
// sentinel_query_errors_total and sentinel_samples_skipped_total by reason.
func errorsBy(t *testing.T, reg *promclient.Registry) map[string]float64 {
	t.Helper()
	return replaytest.Counts(t, reg, "sentinel_query_errors_total", "datadog", errorReasons)
}

func skippedBy(t *testing.T, reg *promclient.Registry) map[string]float64 {
	t.Helper()
	return replaytest.Counts(t, reg, "sentinel_samples_skipped_total", "datadog", skipReasons)
}

// approx compares rates to within float rounding.
var approx = cmpopts.EquateApprox(0, 1e-9)

func TestRenderQueryGolden(t *testing.T) {
	newer := config.Default().Metrics.Datadog
	newer.Metric = "istio.mesh.request.count"
	newer.NamespaceTag, newer.WorkloadTag, newer.CodeTag = "kube_namespace", "kube_deployment", "response_code"
	newer.ReporterFilter = ""
	ambient, _ := config.DefaultFor(config.MeshIstioAmbient)
	// Without gRPC statuses: the query sentinel sent before it judged them.
	grpcOff := config.Default().Detection
	grpcOff.GRPCFailureCodes = ""
	var b strings.Builder
	for _, q := range []struct {
		d   config.Datadog
		det config.Detection
	}{
		{config.Default().Metrics.Datadog, config.Default().Detection}, {newer, config.Default().Detection},
		{config.Default().Metrics.Datadog, grpcOff}, {ambient.Metrics.Datadog, ambient.Detection},
	} {
		b.WriteString(RenderQuery(q.d, q.det) + "\n")
	}
	path := filepath.Join("testdata", "query.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got: %s\nwant: %s", path, b.String(), want)
	}
}

// TestObserveBuckets checks the arithmetic: only the complete buckets of
// the window ending at or before at − ingestion delay count, and counts
// become per-second rates over the time those buckets cover.
func TestObserveBuckets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		delay    time.Duration
		window   time.Duration
		nulls    bool
	}{
		{"15s buckets, 30s delay", 15 * time.Second, DefaultIngestionDelay, time.Minute, false},
		{"15s buckets with nulls", 15 * time.Second, DefaultIngestionDelay, time.Minute, true},
		{"20s buckets, no delay", 20 * time.Second, 0, time.Minute, false},
		{"25s buckets cover 50s of a 1m window", 25 * time.Second, 10 * time.Second, time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake(t, fakedd.Options{Interval: tc.interval, Nulls: tc.nulls})
			// One point a second, so every bucket holds interval seconds.
			start := at.Add(-5 * time.Minute)
			fake.Add(every(tags("shop", "cart", "200"), start, at.Add(time.Second), time.Second, 9)...)
			fake.Add(every(tags("shop", "cart", "404"), start, at.Add(time.Second), time.Second, 0.5)...)
			fake.Add(every(tags("shop", "cart", "503"), start, at.Add(time.Second), time.Second, 0.5)...)
			fake.Add(every(tags("shop", "web", "200"), start, at.Add(time.Second), time.Second, 2)...)
			// A burst after the cutoff, in the incomplete bucket, must not count.
			cutoff := at.Add(-tc.delay)
			fake.Add(fakedd.Point{Tags: tags("shop", "cart", "500"), T: cutoff, V: 10000})
			// Source-side series are filtered out by the query's scope.
			fake.Add(every([]string{"reporter:source", "destination_workload_namespace:shop", "destination_workload:web",
				"response_code:500"}, start, at, time.Second, 100)...)

			cfg := testConfig(fake.URL)
			cfg.Detection.RateWindow = tc.window
			s, reg := newTestSource(t, cfg, WithIngestionDelay(tc.delay))
			got, err := s.Observe(t.Context(), at)
			if err != nil {
				t.Fatal(err)
			}
			want := []detector.Observation{{Workload: cart, Requests: 10, Failures: 0.5}, {Workload: web, Requests: 2}}
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if e := errorsBy(t, reg); len(e) != 0 {
				t.Errorf("errors counted: %v", e)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			r.Status = 0 // the answer's, not the request's
			wantReq := fakedd.Request{From: at.Add(-tc.delay - 2*tc.window).Unix(), To: at.Unix(), Query: s.Query(), KeysOK: true}
			if diff := cmp.Diff(wantReq, r); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObserveErrors(t *testing.T) {
	fresh := func(fake *fakedd.Server) {
		fake.Add(every(tags("shop", "cart", "200"), at.Add(-3*time.Minute), at, 15*time.Second, 100)...)
	}
	for _, tc := range []struct {
		name    string
		setup   func(*fakedd.Server)
		body    string // answer of a plain server instead of the fake
		status  int
		reason  string
		noData  bool
		skipped map[string]float64
	}{{
		name:   "empty answer",
		setup:  func(*fakedd.Server) {},
		reason: ReasonNoData, noData: true,
	}, {
		name: "newest complete bucket empty everywhere",
		setup: func(f *fakedd.Server) {
			f.Add(every(tags("shop", "cart", "200"), at.Add(-3*time.Minute), at.Add(-50*time.Second), 15*time.Second, 100)...)
		},
		reason: ReasonNoData, noData: true,
	}, {
		name:   "server error",
		setup:  func(f *fakedd.Server) { fresh(f); f.FailNext(fakedd.ServerError()) },
		reason: ReasonUnavailable,
	}, {
		name:   "malformed JSON",
		setup:  func(f *fakedd.Server) { fresh(f); f.FailNext(fakedd.Malformed()) },
		reason: ReasonBadResponse,
	}, {
		name: "status error",
		setup: func(f *fakedd.Server) {
			f.FailNext(fakedd.Failure{Status: 200, Body: `{"status":"error","error":"Rate limit of 300 requests in 3600 seconds reached","series":[]}`})
		},
		reason: ReasonRejected,
	}, {
		name: "series with different intervals",
		setup: func(f *fakedd.Server) {
			f.FailNext(fakedd.Failure{Status: 200, Body: `{"status":"ok","series":[
				{"interval":15,"tag_set":["destination_workload_namespace:shop","destination_workload:cart","response_code:200"],"pointlist":[[1777074645000,1]]},
				{"interval":20,"tag_set":["destination_workload_namespace:shop","destination_workload:web","response_code:200"],"pointlist":[[1777074640000,1]]}]}`})
		},
		reason: ReasonBadResponse,
	}, {
		name: "buckets longer than the window",
		setup: func(f *fakedd.Server) {
			f.FailNext(fakedd.Failure{Status: 200, Body: `{"status":"ok","series":[
				{"interval":300,"tag_set":["destination_workload_namespace:shop","destination_workload:cart","response_code:200"],"pointlist":[[1777074600000,1]]}]}`})
		},
		reason: ReasonBadResponse,
	}, {
		name: "every series unusable",
		setup: func(f *fakedd.Server) {
			f.Add(every([]string{"reporter:destination", "destination_workload_namespace:shop", "response_code:200"},
				at.Add(-3*time.Minute), at, 15*time.Second, 100)...)
		},
		reason: ReasonInvalid, noData: true,
		skipped: map[string]float64{SkipNoWorkload: 1},
	}, {
		name:   "timeout",
		body:   "slow",
		reason: ReasonTimeout,
	}, {
		name:   "forbidden",
		status: http.StatusForbidden,
		body:   `{"errors":["Forbidden"]}`,
		reason: ReasonRejected,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var url string
			if tc.setup != nil {
				fake := newFake(t, fakedd.Options{})
				tc.setup(fake)
				url = fake.URL
			} else {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.body == "slow" {
						select {
						case <-time.After(5 * time.Second):
						case <-r.Context().Done():
						}
						return
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(tc.body))
				}))
				defer srv.Close()
				url = srv.URL
			}
			cfg := testConfig(url)
			cfg.Metrics.Datadog.Timeout = 200 * time.Millisecond
			s, reg := newTestSource(t, cfg)
			got, err := s.Observe(t.Context(), at)
			replaytest.Failed(t, got, err, "datadog", tc.noData)
			if diff := cmp.Diff(map[string]float64{tc.reason: 1}, errorsBy(t, reg)); diff != "" {
				t.Errorf("errors counted for %v (-want +got):\n%s", err, diff)
			}
			if s := skippedBy(t, reg); !maps.Equal(s, tc.skipped) {
				t.Errorf("skipped %v, want %v", s, tc.skipped)
			}
			if strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), appKey) {
				t.Errorf("error %q reveals a key", err)
			}
		})
	}
}

func TestObserveSkipsMalformedSeries(t *testing.T) {
	fake := newFake(t, fakedd.Options{})
	from := at.Add(-3 * time.Minute)
	fake.Add(every(tags("shop", "web", "200"), from, at, 15*time.Second, 30)...)
	// cart has a series without a response code: its failures are unknown.
	fake.Add(every(tags("shop", "cart", "200"), from, at, 15*time.Second, 30)...)
	fake.Add(every([]string{"reporter:destination", "destination_workload_namespace:shop", "destination_workload:cart"},
		from, at, 15*time.Second, 30)...)
	// requests Istio could not attribute
	fake.Add(every(tags("unknown", "unknown", "503"), from, at, 15*time.Second, 30)...)
	fake.Add(every(tags("shop", "unknown", "503"), from, at, 15*time.Second, 30)...)
	// a negative count
	fake.Add(every(tags("shop", "batch", "200"), from, at, 15*time.Second, -1)...)

	s, reg := newTestSource(t, testConfig(fake.URL))
	got, err := s.Observe(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]detector.Observation{{Workload: web, Requests: 2}}, got, approx); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	if s, want := skippedBy(t, reg), map[string]float64{SkipNoCode: 1, SkipNoWorkload: 2, SkipBadValue: 1}; !maps.Equal(s, want) {
		t.Errorf("skipped %v, want %v", s, want)
	}
}

// TestRateLimit checks that an exhausted limit stops requests until it
// resets, whether the last answer said so (remaining 0) or was a 429.
func TestRateLimit(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(at)
	fake := newFake(t, fakedd.Options{RateLimit: 2, RatePeriod: time.Minute, Clock: clk})
	fake.Add(every(tags("shop", "cart", "200"), at.Add(-10*time.Minute), at.Add(10*time.Minute), 15*time.Second, 100)...)
	core, logs := observer.New(zap.DebugLevel)
	s, reg := newTestSource(t, testConfig(fake.URL), WithClock(clk), WithLogger(zap.New(core)))

	poll := func(wantErr bool) {
		t.Helper()
		now := clk.Now()
		_, err := s.Observe(t.Context(), now)
		if (err != nil) != wantErr {
			t.Fatalf("at %s: error %v, want error %v", now.Format(time.TimeOnly), err, wantErr)
		}
		clk.SetTime(now.Add(15 * time.Second))
	}
	poll(false) // remaining 1
	poll(false) // remaining 0: polls stop until the reset, 30 s from now
	poll(true)  // skipped
	poll(true)  // skipped
	if n := len(fake.Requests()); n != 2 {
		t.Fatalf("%d requests while the limit was exhausted, want 2", n)
	}
	poll(false) // reset passed: a new period
	if diff := cmp.Diff(map[string]float64{ReasonRateLimited: 2}, errorsBy(t, reg)); diff != "" {
		t.Errorf("errors counted (-want +got):\n%s", diff)
	}

	// A 429 says when to come back.
	fake.FailNext(fakedd.TooManyRequests(40 * time.Second))
	poll(true) // 429
	poll(true) // skipped, 15 s later
	poll(true) // skipped, 30 s later
	before := len(fake.Requests())
	poll(false) // 45 s later
	if n := len(fake.Requests()) - before; n != 1 {
		t.Errorf("%d requests after the reset, want 1", n)
	}
	if n := len(fake.Requests()); n != 5 {
		t.Errorf("%d requests in all, want 5", n)
	}
	if logs.FilterMessage("datadog rate limit exhausted: skipping polls until it resets").Len() == 0 {
		t.Error("rate-limit waits are not logged")
	}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, apiKey) || strings.Contains(f.String, appKey) {
				t.Errorf("log %q field %s reveals a key", e.Message, f.Key)
			}
		}
	}
}

func TestKeys(t *testing.T) {
	fake := newFake(t, fakedd.Options{})
	fake.Add(every(tags("shop", "cart", "200"), at.Add(-3*time.Minute), at, 15*time.Second, 100)...)
	dir := t.TempDir()
	apiFile, appFile := filepath.Join(dir, "api"), filepath.Join(dir, "app")
	write := func(path, v string) {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(apiFile, apiKey+"\n")
	write(appFile, appKey)
	t.Setenv(APIKeyEnv, "")
	t.Setenv(AppKeyEnv, "")

	cfg := testConfig(fake.URL)
	cfg.Metrics.Datadog.APIKeyFile, cfg.Metrics.Datadog.AppKeyFile = apiFile, appFile
	reg := promclient.NewRegistry()
	s, err := New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Observe(t.Context(), at); err != nil {
		t.Fatal(err)
	}
	// A rotated file is read on the next poll.
	write(apiFile, "revoked")
	if _, err := s.Observe(t.Context(), at); err == nil {
		t.Fatal("a revoked key must be rejected")
	}
	os.Remove(appFile)
	if _, err := s.Observe(t.Context(), at); err == nil || strings.Contains(err.Error(), "revoked") {
		t.Fatalf("got %v, want an error naming the file only", err)
	}
	if diff := cmp.Diff(map[string]float64{ReasonRejected: 1, ReasonCredentials: 1}, errorsBy(t, reg)); diff != "" {
		t.Errorf("errors counted (-want +got):\n%s", diff)
	}

	// Without files or environment, New refuses.
	cfg.Metrics.Datadog.APIKeyFile = ""
	if _, err := New(cfg, promclient.NewRegistry()); err == nil || !strings.Contains(err.Error(), "DD_API_KEY") {
		t.Errorf("got %v, want an error naming DD_API_KEY", err)
	}
}

func TestServerSelection(t *testing.T) {
	// The site selects https://api.SITE through the client's own server
	// list; a site outside the client's list works too.
	for site, want := range map[string]string{"datadoghq.eu": "https://api.datadoghq.eu", "example.invalid": "https://api.example.invalid"} {
		ctxf, err := serverContext(config.Datadog{Site: site})
		if err != nil {
			t.Fatal(err)
		}
		cfg := newConfig()
		got, err := cfg.ServerURLWithContext(ctxf(t.Context()), "v1.MetricsApi.QueryMetrics")
		if err != nil || got != want {
			t.Errorf("site %s: got %s, %v; want %s", site, got, err, want)
		}
	}
	ctxf, err := serverContext(config.Datadog{URL: "http://127.0.0.1:8080/proxy/"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := newConfig().ServerURLWithContext(ctxf(t.Context()), "v1.MetricsApi.QueryMetrics")
	if err != nil || got != "http://127.0.0.1:8080/proxy" {
		t.Errorf("url: got %s, %v", got, err)
	}
}

func TestMetricsPreCreated(t *testing.T) {
	_, reg := newTestSource(t, testConfig("http://127.0.0.1:1"))
	replaytest.PreCreated(t, reg, errorReasons, skipReasons)
}

func newConfig() *datadog.Configuration { return datadog.NewConfiguration() }
