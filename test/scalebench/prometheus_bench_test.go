package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/source/prometheus"
)

// BenchmarkWarmUp5000Prometheus is BenchmarkWarmUp5000 with sentinel's
// Prometheus source in the loop: each of the 60 instants is a query to a
// loopback server answering the 5,000 workloads' rates (10,000 samples,
// 1.9 MB of JSON) at once, decoded by client_golang as in production.
func BenchmarkWarmUp5000Prometheus(b *testing.B) {
	deps, rss := objects(benchShape)
	hashes := currentHashes(rss)
	type sample struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	var result []sample
	for _, o := range Observations(deps, hashes) {
		for class, v := range map[string]float64{prometheus.ClassTotal: o.Requests, prometheus.ClassFailed: o.Failures} {
			result = append(result, sample{Metric: map[string]string{
				"destination_workload_namespace": o.Workload.Namespace, "destination_workload": o.Workload.Name,
				prometheus.RevisionLabel: o.Revisions[0].Revision, prometheus.ClassLabel: class,
			}, Value: [2]any{1.7e9, fmt.Sprint(v)}})
		}
	}
	body, err := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/status/buildinfo" {
			_, _ = w.Write([]byte(`{"status":"success","data":{"version":"2.42.0"}}`))
			return
		}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.Metrics.Prometheus.URL = srv.URL
	src, err := prometheus.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(body))/(1<<20), "answer-MiB")
	for range b.N {
		b.StopTimer()
		e := engine.New(cfg, src, quiet{}, quiet{}, zap.NewNop())
		for _, rs := range rss {
			e.ObserveReplicaSet(rs)
		}
		for _, d := range deps {
			e.ObserveDeployment(d, benchAt)
		}
		b.StartTimer()
		e.WarmUp(b.Context(), benchAt)
	}
}
