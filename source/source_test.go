package source

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/workload"
)

// series returns the series of reg by metric name, each as its labels
// joined with its counter value or histogram sample count.
func series(t *testing.T, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			got[mf.GetName()][labels(m)] = value(m)
		}
	}
	return got
}

func labels(m *dto.Metric) string {
	var s string
	for _, lp := range m.GetLabel() {
		s += lp.GetName() + "=" + lp.GetValue() + " "
	}
	return s
}

func value(m *dto.Metric) float64 {
	if m.Histogram != nil {
		return float64(m.Histogram.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg, "prometheus", []string{"timeout", "no_data"}, []string{"bad_value"})
	if err != nil {
		t.Fatal(err)
	}
	// Another source, and the same one again (the wiring rebuilt), on the
	// same registry use the vectors already registered.
	b, err := NewMetrics(reg, "datadog", []string{"timeout", "rate_limited"}, []string{"no_code"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg, "prometheus", []string{"timeout", "no_data"}, []string{"bad_value"}); err != nil {
		t.Fatal(err)
	}
	a.Failed("no_data")
	a.Skipped("bad_value", 3)
	a.ObserveDuration(20 * time.Millisecond)
	b.Failed("rate_limited")
	b.Failed("rate_limited")

	want := map[string]map[string]float64{
		"sentinel_query_errors_total": {
			"reason=no_data source=prometheus ":   1,
			"reason=timeout source=prometheus ":   0,
			"reason=rate_limited source=datadog ": 2,
			"reason=timeout source=datadog ":      0,
		},
		"sentinel_samples_skipped_total": {
			"reason=bad_value source=prometheus ": 3,
			"reason=no_code source=datadog ":      0,
		},
		"sentinel_query_duration_seconds": {
			"source=prometheus ": 1,
			"source=datadog ":    0,
		},
	}
	if diff := cmp.Diff(want, series(t, reg)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

func TestMetricsConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_query_errors_total", Help: "other"}))
	if _, err := NewMetrics(reg, "prometheus", nil, nil); err == nil {
		t.Fatal("want an error registering over a different sentinel_query_errors_total")
	}
}

func TestMetricsNilRegisterer(t *testing.T) {
	m, err := NewMetrics(nil, "prometheus", []string{"timeout"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Failed("timeout")
	m.Skipped("bad_value", 1)
	m.ObserveDuration(time.Second)
}

func TestSortWorkloads(t *testing.T) {
	obs := func(ns, name string) detector.Observation {
		return detector.Observation{Workload: workload.Ref{Namespace: ns, Name: name}}
	}
	got := []detector.Observation{obs("b", "a"), obs("a", "z"), obs("a", "b"), obs("", "c")}
	SortWorkloads(got)
	want := []detector.Observation{obs("", "c"), obs("a", "b"), obs("a", "z"), obs("b", "a")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
}

// Istio names a workload it cannot attribute "unknown" (docs/metrics.md):
// its requests belong to no Deployment, whatever namespace the series
// names, and never page as a workload called unknown.
func TestUnattributed(t *testing.T) {
	tests := []struct {
		namespace, name string
		want            bool
	}{
		{"shop", "cart", false},
		{"unknown", "unknown", true},
		{"shop", "unknown", true},
		{"", "cart", true},
		{"shop", "", true},
		{"shop", "Unknown", false}, // Istio writes it in lower case only
		{"unknown", "cart", false}, // a namespace may be called unknown
	}
	for _, tt := range tests {
		if got := Unattributed(tt.namespace, tt.name); got != tt.want {
			t.Errorf("Unattributed(%q, %q) = %t, want %t", tt.namespace, tt.name, got, tt.want)
		}
	}
}
