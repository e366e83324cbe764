package scenario

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/sentinel-sre/sentinel/config"
)

// Names says which series of a recording are read and how they are
// grouped: the metric, the selector and the label names the live
// Prometheus query uses (metrics.prometheus), so a replay reads exactly
// the series the daemon would ask for. Every label name the reader
// looks at is here, built once from the configuration (NamesFor) and
// passed in; nothing else names a label.
type Names struct {
	// Metric is the counter, metrics.prometheus.metric.
	Metric string
	// Namespace and Workload name a workload
	// (metrics.prometheus.namespace_label, workload_label).
	Namespace, Workload string
	// Code is the response code label a failure is read from
	// (metrics.prometheus.code_label), GRPC the gRPC status label
	// (grpc_code_label; empty reads none).
	Code, GRPC string
	// Revision and Pod say which revision's pods served a series
	// (metrics.prometheus.revision_label, pod_label; either may be empty):
	// the pod-template-hash, else the ReplicaSet name in the pod's name.
	Revision, Pod string
	// Selector holds the matchers of the live query's series selector,
	// the metric name and metrics.prometheus.reporter_selector: a series
	// is read when it matches all of them.
	Selector []*labels.Matcher
	// Failed holds metrics.prometheus.failure_selector's matchers: a
	// series matching all of them failed, whatever its codes. Nil when
	// none is configured.
	Failed []*labels.Matcher
}

// NamesFor returns the names of the live query for a configuration:
// metrics.prometheus's metric, label names and reporter_selector, parsed
// as PromQL the way the query is.
func NamesFor(p config.Prometheus) (Names, error) {
	sel := p.Metric
	if s := strings.TrimSpace(p.ReporterSelector); s != "" {
		sel += "{" + s + "}"
	}
	ms, err := parser.ParseMetricSelector(sel)
	if err != nil {
		return Names{}, fmt.Errorf("metrics.prometheus: series selector %q: %w", sel, err)
	}
	n := Names{Metric: p.Metric, Namespace: p.NamespaceLabel, Workload: p.WorkloadLabel, Code: p.CodeLabel,
		GRPC: p.GRPCCodeLabel, Revision: p.RevisionLabel, Pod: p.PodLabel, Selector: ms}
	if s := strings.TrimSpace(p.FailureSelector); s != "" {
		fs, err := parser.ParseMetricSelector(p.Metric + "{" + s + "}")
		if err != nil {
			return Names{}, fmt.Errorf("metrics.prometheus.failure_selector %q: %w", s, err)
		}
		for _, m := range fs {
			if m.Name != labels.MetricName {
				n.Failed = append(n.Failed, m)
			}
		}
	}
	return n, nil
}

// DefaultNames are the names of the default configuration: Istio's
// istio_requests_total{reporter="destination"}.
// A test holds them equal to NamesFor(config.Default().Metrics.Prometheus).
func DefaultNames() Names {
	return Names{
		Metric: MetricName, Namespace: LabelNamespace, Workload: LabelWorkload, Code: LabelCode, GRPC: LabelGRPC,
		Revision: LabelRevision, Pod: LabelPod,
		Selector: []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, MetricName),
			labels.MustNewMatcher(labels.MatchEqual, LabelReporter, Reporter),
		},
	}
}

// String is the selector as PromQL, for messages.
func (n Names) String() string {
	var ms []string
	for _, m := range n.Selector {
		if m.Name != labels.MetricName {
			ms = append(ms, m.String())
		}
	}
	if len(ms) == 0 {
		return n.Metric
	}
	return n.Metric + "{" + strings.Join(ms, ", ") + "}"
}

// revisionOf names the revision whose pods served a series, as the live
// query does: the pod-template-hash, else the ReplicaSet name taken from
// the pod name (less its last "-suffix"); "" when neither is there.
func (n Names) revisionOf(l labels.Labels) string {
	if n.Revision != "" {
		if h := l.Get(n.Revision); h != "" {
			return h
		}
	}
	if n.Pod == "" {
		return ""
	}
	pod := l.Get(n.Pod)
	if i := strings.LastIndexByte(pod, '-'); i > 0 {
		return pod[:i]
	}
	return ""
}

// matches reports whether a series is one the live query selects.
func (n Names) matches(l labels.Labels) bool { return matchAll(n.Selector, l) }

// failed reports whether a series counts failed requests, as the live
// query's failed expression selects them: by its response code, its gRPC
// status, or the failure selector. grpc is the gRPC status it failed
// with, "" when it did not fail by one.
func (n Names) failed(l labels.Labels, codes, grpcCodes *regexp.Regexp) (failed bool, grpc string) {
	if n.GRPC != "" && grpcCodes != nil {
		if s := l.Get(n.GRPC); grpcCodes.MatchString(s) {
			return true, s
		}
	}
	return codes.MatchString(l.Get(n.Code)) || (len(n.Failed) > 0 && matchAll(n.Failed, l)), ""
}

func matchAll(ms []*labels.Matcher, l labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

// OptionsFor returns how a replay under cfg reads its metrics: the live
// query's names, detection.failure_codes, grpc_failure_codes and
// rate_window.
func OptionsFor(cfg config.Config) (Options, error) {
	names, err := NamesFor(cfg.Metrics.Prometheus)
	if err != nil {
		return Options{}, err
	}
	codes, err := config.CompileCodes(cfg.Detection.FailureCodes)
	if err != nil {
		return Options{}, fmt.Errorf("detection.failure_codes: %w", err)
	}
	grpc, err := config.CompileGRPCCodes(cfg.Detection.GRPCFailureCodes)
	if err != nil {
		return Options{}, fmt.Errorf("detection.grpc_failure_codes: %w", err)
	}
	return Options{Names: names, FailureCodes: codes, GRPCCodes: grpc, Window: cfg.Detection.RateWindow}, nil
}
