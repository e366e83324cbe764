package prometheus

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/test/promenv"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// BenchmarkRevisionQuery measures, on the test environment's real
// Prometheus, what the per-revision split costs: the instant query sent
// every poll, with and without the revision grouping, at an instant when
// each of 1,000 workloads runs two revisions (a rolling update half
// done, 2 pods each). It reports the series each answer returns.
//
//	scripts/testenv.sh exec -- go test -run '^$' -bench RevisionQuery -benchtime 20x ./source/prometheus
func BenchmarkRevisionQuery(b *testing.B) {
	env := promenv.Need(b)
	start := time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)
	s := scenariogen.New(scenariogen.Options{Start: start, End: start.Add(20 * time.Minute), Seed: 1000, MinimalLabels: true,
		Reporters: []string{scenariogen.ReporterDestination}})
	for i := range 1000 {
		w := s.AddWorkload(scenariogen.WorkloadSpec{Namespace: fmt.Sprintf("ns-%02d", i%50), Name: fmt.Sprintf("svc-%04d", i),
			Image: "registry.example/svc:1", Replicas: 2, RequestRate: 10, Created: start.Add(-time.Hour), Manager: "helm",
			RollingStep: 10 * time.Minute})
		w.Fail(scenariogen.Failure{Code: "500", Ratio: 0.01})
		w.SetImage(start.Add(5*time.Minute), "kubectl-set", "registry.example/svc:2")
	}
	dir := b.TempDir()
	if _, err := s.Write(dir); err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	ropts, err := scenario.OptionsFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rec, err := scenario.ReadMetricsFile(filepath.Join(dir, scenariogen.MetricsFile), ropts)
	if err != nil {
		b.Fatal(err)
	}
	env.Backfill(b, filepath.Join(dir, scenariogen.MetricsFile), RawSelector(cfg.Metrics.Prometheus, Selection{}), rec.First, rec.Last, rec.Samples)
	at := start.Add(10 * time.Minute) // one old and one new pod per workload
	workloadOnly := cfg
	workloadOnly.Metrics.Prometheus.RevisionLabel, workloadOnly.Metrics.Prometheus.PodLabel = "", ""
	for _, tc := range []struct {
		name string
		cfg  config.Config
	}{{"workload", workloadOnly}, {"revision", cfg}} {
		b.Run(tc.name, func(b *testing.B) {
			q, err := RenderQuery(tc.cfg.Metrics.Prometheus, tc.cfg.Detection, RangesClosed)
			if err != nil {
				b.Fatal(err)
			}
			var series int
			for b.Loop() {
				v, _, err := env.API.Query(b.Context(), q, at, v1.WithTimeout(10*time.Second))
				if err != nil {
					b.Fatal(err)
				}
				series = len(v.(model.Vector))
			}
			b.ReportMetric(float64(series), "series/poll")
		})
	}
}
