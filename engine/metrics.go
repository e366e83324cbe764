package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-sre/sentinel/rollback"
)

// metrics are the engine's own series. Label values come from closed
// sets, and every series exists from the start at zero.
type metrics struct {
	polls          prometheus.Counter
	sourceUp       prometheus.Gauge
	blind          prometheus.Gauge
	lastPoll       prometheus.Gauge
	workloads      prometheus.Gauge
	healthyKnown   prometheus.Gauge
	incidentsOpen  prometheus.Gauge
	incidentsTotal prometheus.Counter
	rollbacks      *prometheus.CounterVec
	refused        *prometheus.CounterVec
}

// Rollback results, the values of sentinel_rollbacks_total{result}.
const (
	resultDone       = "done"
	resultDryRun     = "dry_run"
	resultFailed     = "failed"
	resultUnverified = "unverified"
	// resultSkipped: not written, the Deployment changed since the decision.
	resultSkipped = "skipped"
)

// rollbackResults are every rollback result.
var rollbackResults = []string{resultDone, resultDryRun, resultFailed, resultUnverified, resultSkipped}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls: prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_polls_total",
			Help: "Polls of the metrics source."}),
		sourceUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_source_up",
			Help: "1 when the last poll of the metrics source was answered."}),
		blind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_blind",
			Help: "1 when the metrics source has not answered for metrics.blind_after polls."}),
		lastPoll: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_last_successful_poll_timestamp_seconds",
			Help: "Time of the last poll the metrics source answered."}),
		workloads: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_workloads_watched",
			Help: "Deployments whose history sentinel keeps."}),
		healthyKnown: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_workloads_with_healthy_revision",
			Help: "Deployments with a revision judged healthy for rollback.healthy.min_duration: a rollback target."}),
		incidentsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_incidents_open",
			Help: "Incidents firing now."}),
		incidentsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_incidents_total",
			Help: "Incidents opened."}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_rollbacks_total",
			Help: "Automatic rollbacks carried out, by result."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_rollbacks_refused_total",
			Help: "Incidents not rolled back, by reason."}, []string{"reason"}),
	}
	for _, r := range rollbackResults {
		m.rollbacks.WithLabelValues(r)
	}
	for _, r := range rollback.Reasons() {
		if r != rollback.ReasonOutOfBandImage {
			m.refused.WithLabelValues(string(r))
		}
	}
	if reg != nil {
		reg.MustRegister(m.polls, m.sourceUp, m.blind, m.lastPoll, m.workloads, m.healthyKnown, m.incidentsOpen,
			m.incidentsTotal, m.rollbacks, m.refused)
	}
	return m
}
