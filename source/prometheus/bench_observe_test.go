package prometheus

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// BenchmarkObserve5000 is one poll's query answered for 5,000 workloads,
// each served by one revision (10,000 samples: total and failed), as the
// test Prometheus answers sentinel at the scale of docs/benchmarks.md:
// sentinel's side of it, from the HTTP request to the observations.
//
//	go test -run '^$' -bench Observe5000 -benchmem ./source/prometheus
func BenchmarkObserve5000(b *testing.B) {
	samples := make([]string, 0, 10000)
	for i := range 5000 {
		ns, wl, rev := fmt.Sprintf("team-%03d", i%50), fmt.Sprintf("svc-%05d", i), fmt.Sprintf("h%08x", i)
		samples = append(samples, revSample(ns, wl, rev, ClassTotal, "12.5"), revSample(ns, wl, rev, ClassFailed, "0.025"))
	}
	fake := &fakeProm{version: "2.42.0", body: vector(samples...)}
	srv := httptest.NewServer(fake)
	b.Cleanup(srv.Close)
	s, err := New(testConfig(srv.URL), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(fake.body)))
	for b.Loop() {
		obs, err := s.Observe(b.Context(), at)
		if err != nil {
			b.Fatal(err)
		}
		if len(obs) != 5000 {
			b.Fatalf("%d observations, want 5000", len(obs))
		}
	}
}
