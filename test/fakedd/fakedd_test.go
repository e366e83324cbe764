package fakedd

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"
	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 4, 24, 23, 50, 0, 0, time.UTC)

// query calls the fake through the real client, as sentinel does.
func query(t *testing.T, s *Server, apiKey string, from, to time.Time, q string) (datadogV1.MetricsQueryResponse, *http.Response, error) {
	t.Helper()
	cfg := datadog.NewConfiguration()
	api := datadogV1.NewMetricsApi(datadog.NewAPIClient(cfg))
	ctx := context.WithValue(t.Context(), datadog.ContextServerIndex, 1)
	ctx = context.WithValue(ctx, datadog.ContextServerVariables, map[string]string{
		"protocol": "http", "name": strings.TrimPrefix(s.URL, "http://")})
	ctx = context.WithValue(ctx, datadog.ContextAPIKeys, map[string]datadog.APIKey{
		"apiKeyAuth": {Key: apiKey}, "appKeyAuth": {Key: "app"}})
	return api.QueryMetrics(ctx, from.Unix(), to.Unix(), q)
}

func TestQueryBuckets(t *testing.T) {
	s := New(Options{APIKey: "api", AppKey: "app", Metric: "m", Interval: 15 * time.Second, Lag: 10 * time.Second})
	defer s.Close()
	a := []string{"reporter:destination", "ns:shop", "wl:cart", "code:200", "pod:a"}
	b := []string{"reporter:destination", "ns:shop", "wl:cart", "code:200", "pod:b"}
	src := []string{"reporter:source", "ns:shop", "wl:cart", "code:200", "pod:a"}
	for i := range 8 {
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		s.Add(Point{Tags: a, T: at, V: 1}, Point{Tags: b, T: at, V: 2}, Point{Tags: src, T: at, V: 100})
	}
	// Points at 0, 5, ..., 35 s. Asked up to 40 s with a 10 s lag, the
	// points at 35 s are not ingested yet: the bucket [30, 45) holds 30 s only.
	resp, _, err := query(t, s, "api", t0.Add(-time.Second), t0.Add(40*time.Second), "sum:m{reporter:destination} by {ns,wl,code}.as_count()")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Series) != 1 {
		t.Fatalf("got %d series, want 1", len(resp.Series))
	}
	ser := resp.Series[0]
	if ser.GetInterval() != 15 {
		t.Errorf("interval %d, want 15", ser.GetInterval())
	}
	if diff := cmp.Diff([]string{"ns:shop", "wl:cart", "code:200"}, ser.TagSet); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	var got [][2]float64
	for _, p := range ser.Pointlist {
		got = append(got, [2]float64{*p[0], *p[1]})
	}
	ms := float64(t0.UnixMilli())
	want := [][2]float64{{ms, 9}, {ms + 15000, 9}, {ms + 30000, 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pointlist (-want +got):\n%s", diff)
	}
}

func TestAuthRateLimitAndFailures(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(t0)
	s := New(Options{APIKey: "api", AppKey: "app", Metric: "m", RateLimit: 2, RatePeriod: time.Minute, Clock: clk})
	defer s.Close()
	q := "sum:m{*} by {a,b,c}.as_count()"
	if _, r, err := query(t, s, "wrong", t0, t0.Add(time.Minute), q); err == nil || r.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong key: %v", err)
	}
	// A forbidden request is not counted: two left.
	if _, r, err := query(t, s, "api", t0, t0.Add(time.Minute), q); err != nil || r.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("got %v, headers %v", err, r.Header)
	}
	_, r, err := query(t, s, "api", t0, t0.Add(time.Minute), q)
	if err != nil || r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Reset") != "60" {
		t.Fatalf("got %v, headers %v", err, r.Header)
	}
	if _, r, _ := query(t, s, "api", t0, t0.Add(time.Minute), q); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the limit: status %d", r.StatusCode)
	}
	clk.SetTime(t0.Add(time.Minute))
	s.FailNext(ServerError(), Malformed(), TooManyRequests(30*time.Second))
	for _, want := range []int{500, 200, 429} {
		_, r, err := query(t, s, "api", t0, t0.Add(time.Minute), q)
		if r.StatusCode != want || err == nil {
			t.Errorf("status %d, error %v; want %d and an error", r.StatusCode, err, want)
		}
	}
	if _, _, err := query(t, s, "api", t0, t0.Add(time.Minute), "avg:m{*}"); err == nil {
		t.Error("a query of another form must be rejected")
	}
	if n := len(s.Requests()); n != 8 {
		t.Errorf("%d requests recorded, want 8", n)
	}
}

func TestFromOpenMetrics(t *testing.T) {
	om := `# TYPE req counter
req_total{a="x",b="y"} 10 1000
req_total{a="x",b="y"} 15 1015
req_total{a="x",b="y"} 4 1030
other_total{a="x"} 1 1000
other_total{a="x"} 2 1015
# EOF
`
	got, err := FromOpenMetrics(strings.NewReader(om), "req_total")
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{"a:x", "b:y"}
	want := []Point{{Tags: tags, T: time.Unix(1015, 0).UTC(), V: 5}, {Tags: tags, T: time.Unix(1030, 0).UTC(), V: 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
}
