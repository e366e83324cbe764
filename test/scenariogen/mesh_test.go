package scenariogen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/replay/scenario"
)

// Every mesh's recording reads back, with its mesh's names, without a
// skipped sample, and shaped as that mesh reports: a series per pod and
// outcome (Linkerd's inbound proxy), or one per workload and outcome
// (Istio's waypoint).
func TestMeshRecordingsReadable(t *testing.T) {
	for _, tc := range []struct {
		mesh   string
		series int // per workload of 2 pods and 2 outcomes, one change
		label  string
	}{
		{config.MeshLinkerd, 4 * 2, `direction="inbound"`},
		{config.MeshIstioAmbient, 2, `reporter="waypoint"`},
	} {
		t.Run(tc.mesh, func(t *testing.T) {
			start := time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)
			s := New(Options{Start: start, End: start.Add(10 * time.Minute), Seed: 1, Mesh: tc.mesh, MinimalLabels: true})
			s.AddWorkload(WorkloadSpec{Namespace: "shop", Name: "api", Image: "api:1", Replicas: 2, RequestRate: 10,
				Created: start.Add(-time.Hour), Manager: "helm", GRPC: true}).
				Fail(Failure{GRPC: "14", Ratio: 0.5}).
				SetImage(start.Add(5*time.Minute), "kubectl-set", "api:2")
			dir := t.TempDir()
			sum, err := s.Write(dir)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Series != tc.series {
				t.Errorf("%d series, want %d", sum.Series, tc.series)
			}
			cfg, err := config.Load(filepath.Join(dir, ConfigFile))
			if err != nil || cfg.Metrics.Mesh != tc.mesh {
				t.Fatalf("config.yaml: mesh %q, %v; want %s", cfg.Metrics.Mesh, err, tc.mesh)
			}
			opts, err := scenario.OptionsFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m, err := scenario.ReadMetricsFile(filepath.Join(dir, MetricsFile), opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.Samples != sum.Samples || len(m.Skipped) > 0 || m.Ignored > 0 {
				t.Errorf("read %d of %d samples, skipped %v, ignored %d", m.Samples, sum.Samples, m.Skipped, m.Ignored)
			}
			b, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
			if !strings.Contains(string(b), tc.label) {
				t.Errorf("no %s series", tc.label)
			}
			obs, err := m.Observe(t.Context(), start.Add(3*time.Minute))
			if err != nil || len(obs) != 1 {
				t.Fatalf("observe: %v, %v", obs, err)
			}
			if r := obs[0].Ratio(); r < 0.4 || r > 0.6 {
				t.Errorf("failure ratio %.2f, want about half: UNAVAILABLE counts in every mesh", r)
			}
		})
	}
}

// A gRPC workload's failures name a gRPC status; an HTTP workload's do not.
func TestGRPCFailuresAreChecked(t *testing.T) {
	start := time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)
	s := New(Options{Start: start, End: start.Add(time.Minute)})
	spec := WorkloadSpec{Namespace: "shop", Name: "api", Image: "api:1", Replicas: 1, RequestRate: 1,
		Created: start, Manager: "helm", GRPC: true}
	s.AddWorkload(spec).Fail(Failure{Code: "500", Ratio: 0.1}).Fail(Failure{GRPC: "0", Ratio: 0.1})
	spec.Name, spec.GRPC = "web", false
	s.AddWorkload(spec).Fail(Failure{GRPC: "14", Ratio: 0.1})
	err := s.Err()
	for _, want := range []string{
		`workload shop/api: gRPC status "": a gRPC workload's failures have a number, an HTTP workload's none`,
		"workload shop/api: failure 200/gRPC 0: the remainder of the traffic already answers it",
		`workload shop/web: gRPC status "14": a gRPC workload's failures have a number, an HTTP workload's none`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
