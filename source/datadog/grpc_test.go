package datadog

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/test/fakedd"
)

// Datadog's Istio check tags the gRPC status as Envoy labels it: a call
// fails by a server-side status whatever its response code, never by a
// client-side one, and the observation says which status failed.
func TestObserveGRPCStatuses(t *testing.T) {
	fake := newFake(t, fakedd.Options{Interval: 15 * time.Second})
	start := at.Add(-5 * time.Minute)
	grpc := func(code, status string) []string {
		return append(tags("shop", "cart", code), "grpc_response_status:"+status)
	}
	fake.Add(every(grpc("200", "0"), start, at.Add(time.Second), time.Second, 4)...)
	fake.Add(every(grpc("200", "14"), start, at.Add(time.Second), time.Second, 5)...)  // UNAVAILABLE
	fake.Add(every(grpc("200", "5"), start, at.Add(time.Second), time.Second, 0.5)...) // NOT_FOUND
	fake.Add(every(grpc("503", "14"), start, at.Add(time.Second), time.Second, 0.25)...)
	fake.Add(every(grpc("500", "3"), start, at.Add(time.Second), time.Second, 0.25)...) // failed by its code
	fake.Add(every(tags("shop", "web", "200"), start, at.Add(time.Second), time.Second, 2)...)

	s, _ := newTestSource(t, testConfig(fake.URL))
	got, err := s.Observe(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	want := []detector.Observation{
		{Workload: cart, Requests: 10, Failures: 5.5, FailedBy: []detector.Failure{{GRPC: "14", Rate: 5.25}, {Rate: 0.25}}},
		{Workload: web, Requests: 2},
	}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}

	// Without gRPC statuses judged, the query groups by none and the
	// calls failing UNAVAILABLE with 200 look healthy, as before.
	cfg := testConfig(fake.URL)
	cfg.Detection.GRPCFailureCodes = ""
	off, _ := newTestSource(t, cfg)
	got, err = off.Observe(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	want = []detector.Observation{{Workload: cart, Requests: 10, Failures: 0.5}, {Workload: web, Requests: 2}}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("without gRPC statuses (-want +got):\n%s", diff)
	}
}
