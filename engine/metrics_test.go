package engine

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sentinel-sre/sentinel/rollback"
)

// The engine's Prometheus metrics are its only counts; tests read them as
// Prometheus's own tests do.

// rollbacksByResult reads sentinel_rollbacks_total, leaving out results
// never counted.
func rollbacksByResult(e *Engine) map[string]int {
	out := map[string]int{}
	for _, r := range rollbackResults {
		if n := testutil.ToFloat64(e.metrics.rollbacks.WithLabelValues(r)); n != 0 {
			out[r] = int(n)
		}
	}
	return out
}

// refusals reads sentinel_rollbacks_refused_total, leaving out reasons
// never counted.
func refusals(e *Engine) map[rollback.Reason]int {
	out := map[rollback.Reason]int{}
	for _, r := range rollback.Reasons() {
		if n := testutil.ToFloat64(e.metrics.refused.WithLabelValues(string(r))); n != 0 {
			out[r] = int(n)
		}
	}
	return out
}

// countUnanswered counts, in *n, the polls after which sentinel_source_up
// read 0 (it replaces any poll hook).
func countUnanswered(n *int) Option {
	return func(e *Engine) {
		e.pollHook = func(PollRecord) {
			if testutil.ToFloat64(e.metrics.sourceUp) == 0 {
				*n++
			}
		}
	}
}

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
