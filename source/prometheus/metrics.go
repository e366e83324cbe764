package prometheus

import (
	"errors"

	promclient "github.com/prometheus/client_golang/prometheus"
)

// sourceLabel is this source's value of the "source" label.
const sourceLabel = "prometheus"

// Why a query failed: a closed set, every series pre-created at zero.
const (
	ReasonTimeout     = "timeout"      // the per-query timeout or Prometheus's own
	ReasonCanceled    = "canceled"     // the caller gave up (shutdown)
	ReasonUnavailable = "unavailable"  // transport error, 5xx
	ReasonRejected    = "rejected"     // 4xx, bad_data, execution error: the query is wrong
	ReasonBadResponse = "bad_response" // undecodable body or not an instant vector
	ReasonWarnings    = "warnings"     // the answer may be partial
	ReasonNoData      = "no_data"      // an empty vector: nothing is known
	ReasonInvalid     = "invalid"      // samples came back but none was usable
)

var errorReasons = []string{ReasonTimeout, ReasonCanceled, ReasonUnavailable, ReasonRejected,
	ReasonBadResponse, ReasonWarnings, ReasonNoData, ReasonInvalid}

// Why a sample was skipped: a closed set, every series pre-created at zero.
const (
	SkipNoWorkload = "no_workload" // namespace or workload label missing, or "unknown"
	SkipBadValue   = "bad_value"   // NaN, infinite or negative rate
	SkipBadClass   = "bad_class"   // sentinel_class missing or neither total nor failed
	SkipDuplicate  = "duplicate"   // two samples for one workload and class
	SkipNoTotal    = "no_total"    // a failed rate without a total rate
)

var skipReasons = []string{SkipNoWorkload, SkipBadValue, SkipBadClass, SkipDuplicate, SkipNoTotal}

// metrics are the source's own metrics. Their names, help and labels are
// shared with the other metric sources (source/datadog), so both can
// register with one registry.
type metrics struct {
	errors   *promclient.CounterVec
	duration promclient.Observer
	skipped  *promclient.CounterVec
}

func newMetrics(reg promclient.Registerer) (*metrics, error) {
	errs := promclient.NewCounterVec(promclient.CounterOpts{
		Name: "sentinel_query_errors_total",
		Help: "Metric source queries that gave no trustworthy answer, by source and reason.",
	}, []string{"source", "reason"})
	dur := promclient.NewHistogramVec(promclient.HistogramOpts{
		Name:    "sentinel_query_duration_seconds",
		Help:    "Time taken by metric source queries, by source.",
		Buckets: promclient.DefBuckets,
	}, []string{"source"})
	skipped := promclient.NewCounterVec(promclient.CounterOpts{
		Name: "sentinel_samples_skipped_total",
		Help: "Malformed samples in metric source answers that were skipped, by source and reason.",
	}, []string{"source", "reason"})
	var err error
	if errs, err = register(reg, errs); err != nil {
		return nil, err
	}
	if dur, err = register(reg, dur); err != nil {
		return nil, err
	}
	if skipped, err = register(reg, skipped); err != nil {
		return nil, err
	}
	for _, r := range errorReasons {
		errs.WithLabelValues(sourceLabel, r)
	}
	for _, r := range skipReasons {
		skipped.WithLabelValues(sourceLabel, r)
	}
	return &metrics{errors: errs, duration: dur.WithLabelValues(sourceLabel), skipped: skipped}, nil
}

// register registers c, or returns the identical collector another source
// registered first. A nil reg registers nothing (tests, tools).
func register[C promclient.Collector](reg promclient.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are promclient.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
