package engine

import (
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
