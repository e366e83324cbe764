package engine

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// sentinel_workloads_with_healthy_revision exists at 0 before any poll and
// counts the Deployment once revision 1 has served healthy long enough:
// after the scenario's bad change, revision 1 is its rollback target.
func TestHealthyRevisionGauge(t *testing.T) {
	gauge := func(reg *prometheus.Registry) (float64, bool) {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "sentinel_workloads_with_healthy_revision" && len(f.GetMetric()) == 1 {
				return f.GetMetric()[0].GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	reg := prometheus.NewRegistry()
	newMetrics(reg)
	if v, ok := gauge(reg); !ok || v != 0 {
		t.Errorf("before any poll: %v (present %t), want 0", v, ok)
	}
	reg = prometheus.NewRegistry()
	runScenario(t, "kubectl-set", &executor{}, nil, WithMetrics(reg))
	if v, _ := gauge(reg); v != 1 {
		t.Errorf("after the scenario: %v, want 1", v)
	}
}
