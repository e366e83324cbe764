// Package source is the shared vocabulary of sentinel's metric backends
// (source/prometheus, source/datadog): the error an answer without values
// wraps, the metrics every backend registers, and the order observations
// are returned in. It depends on no backend and on nothing that consumes
// one, so the backends stay leaf packages.
package source

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/workload"
)

// ErrNoData is wrapped by a source's error when the backend had no values
// at all ("no values found"): every workload is unknown for that poll,
// never healthy and never failing, but the source did answer.
var ErrNoData = errors.New("no data")

// Answered reports whether a source's error still means it answered: no
// error, or an answer with no data.
func Answered(err error) bool { return err == nil || errors.Is(err, ErrNoData) }

// Metrics are a source's own metrics, every series labelled with its
// source name.
type Metrics struct {
	source   string
	errors   *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	duration prometheus.Observer
}

// NewMetrics registers with reg the metrics every source shares —
// sentinel_query_errors_total{source,reason},
// sentinel_query_duration_seconds{source} and
// sentinel_samples_skipped_total{source,reason} — and pre-creates at zero
// the series of source for each of its closed sets of reasons. The
// vectors are registered once per registry: a later call, for another
// source or the same one, uses the vectors already there, so every source
// can register with the daemon's registry. A nil reg registers nothing
// (tests, tools).
func NewMetrics(reg prometheus.Registerer, source string, reasons, skipReasons []string) (*Metrics, error) {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sentinel_query_errors_total",
		Help: "Metric source queries that gave no trustworthy answer, by source and reason.",
	}, []string{"source", "reason"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sentinel_query_duration_seconds",
		Help:    "Time taken by metric source queries, by source.",
		Buckets: prometheus.DefBuckets,
	}, []string{"source"})
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sentinel_samples_skipped_total",
		Help: "Malformed samples in metric source answers that were skipped, by source and reason.",
	}, []string{"source", "reason"})
	var err error
	if errs, err = register(reg, errs); err != nil {
		return nil, fmt.Errorf("register sentinel_query_errors_total: %w", err)
	}
	if dur, err = register(reg, dur); err != nil {
		return nil, fmt.Errorf("register sentinel_query_duration_seconds: %w", err)
	}
	if skipped, err = register(reg, skipped); err != nil {
		return nil, fmt.Errorf("register sentinel_samples_skipped_total: %w", err)
	}
	for _, r := range reasons {
		errs.WithLabelValues(source, r)
	}
	for _, r := range skipReasons {
		skipped.WithLabelValues(source, r)
	}
	return &Metrics{source: source, errors: errs, skipped: skipped, duration: dur.WithLabelValues(source)}, nil
}

// register registers c, or returns the identical collector registered
// before. A nil reg registers nothing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Failed counts a query that gave no trustworthy answer, for reason (one
// of the reasons given to NewMetrics).
func (m *Metrics) Failed(reason string) {
	m.errors.WithLabelValues(m.source, reason).Inc()
}

// Skipped counts n malformed samples or series skipped for reason (one of
// the skip reasons given to NewMetrics).
func (m *Metrics) Skipped(reason string, n int) {
	m.skipped.WithLabelValues(m.source, reason).Add(float64(n))
}

// ObserveDuration records how long a query took.
func (m *Metrics) ObserveDuration(d time.Duration) {
	m.duration.Observe(d.Seconds())
}

// SortWorkloads sorts observations by workload, namespace first, the order
// every source answers in.
func SortWorkloads(obs []detector.Observation) {
	slices.SortFunc(obs, func(a, b detector.Observation) int {
		return workload.Compare(a.Workload, b.Workload)
	})
}

// Unattributed reports whether a series names no workload: a namespace or
// workload label is missing, or the workload is Istio's "unknown", which it
// writes for requests it cannot attribute, in a namespace it may know.
// Every source and the replay reader skip such series (docs/metrics.md); a
// Deployment named "unknown" cannot be told from them.
func Unattributed(namespace, name string) bool {
	return namespace == "" || name == "" || name == "unknown"
}
