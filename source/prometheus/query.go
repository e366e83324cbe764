package prometheus

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/sentinel-sre/sentinel/config"
)

// ClassLabel is the label the query puts on each series: ClassTotal for
// the rate of all requests, ClassFailed for the rate of failed ones.
// RevisionLabel, when the answer carries it, names the revision whose pods
// served the series: a pod-template-hash, or a ReplicaSet name taken from a
// pod name.
const (
	ClassLabel    = "sentinel_class"
	ClassTotal    = "total"
	ClassFailed   = "failed"
	RevisionLabel = "sentinel_revision"
)

// QueryData is what the query template is rendered with, the built-in one
// and a custom metrics.prometheus.query alike.
type QueryData struct {
	// Metric is metrics.prometheus.metric, e.g. istio_requests_total.
	Metric string
	// NamespaceLabel, WorkloadLabel and CodeLabel are the label names from
	// metrics.prometheus; the answer must carry the first two.
	NamespaceLabel, WorkloadLabel, CodeLabel string
	// ReporterSelector is metrics.prometheus.reporter_selector as written
	// (matchers without braces, e.g. reporter="destination"); may be empty.
	ReporterSelector string
	// FailureCodes is detection.failure_codes as written, a regular
	// expression for a whole response code; use {{quote .FailureCodes}}.
	FailureCodes string
	// GRPCLabel is metrics.prometheus.grpc_code_label, and
	// GRPCFailureCodes detection.grpc_failure_codes as written; GRPCLabel
	// is empty when either is (no gRPC status is judged).
	GRPCLabel, GRPCFailureCodes string
	// FailureSelector is metrics.prometheus.failure_selector as written
	// (e.g. classification="failure"); may be empty.
	FailureSelector string
	// Window is detection.rate_window as a PromQL duration, e.g. 1m.
	Window string
	// RevisionLabel and PodLabel are metrics.prometheus.revision_label and
	// pod_label (either may be empty); use {{revisions . EXPR}} to copy
	// them into sentinel_revision and {{by .}} for the grouping labels.
	RevisionLabel, PodLabel string
}

// DefaultQuery is the built-in query template. One expression per class,
// summed per workload after rate() so every series' counter resets and
// boundaries are handled before aggregation; label_replace tags each sum
// with its class so one instant query answers both.
//
// A series fails when its response code matches, or its gRPC status does,
// or the failure selector selects it: the union of those selectors'
// series ({{failed .}}), each series once. Failures are also summed by
// gRPC status, so a page can say which status failed.
//
// With a revision or pod label configured, each sum is also by
// sentinel_revision: label_replace copies the ReplicaSet name out of the
// pod name (the pod name less its last "-suffix"), then the
// pod-template-hash over it where the series has one. Still one query per
// poll, one series per workload, revision and class.
const DefaultQuery = `label_replace(sum by ({{by .}}) ` +
	`({{revisions . (printf "rate(%s[%s])" (sel .Metric .ReporterSelector) .Window)}})` +
	`, "sentinel_class", "total", "", "")` +
	` or ` +
	`label_replace(sum by ({{by . .GRPCLabel}}) ({{revisions . (failed .) .GRPCLabel}})` +
	`, "sentinel_class", "failed", "", "")`

// funcs are the template functions: quote makes a PromQL string literal;
// sel builds a series selector from a metric name and matcher lists,
// leaving out empty ones; by lists the grouping labels (and any further
// labels given); revisions wraps an expression so its series carry
// sentinel_revision (keeping any further labels given); failed is the
// rate of the failed series.
var funcs = template.FuncMap{
	"quote": strconv.Quote,
	"by": func(d QueryData, extra ...string) string {
		by := []string{d.NamespaceLabel, d.WorkloadLabel}
		if d.RevisionLabel != "" || d.PodLabel != "" {
			by = append(by, RevisionLabel)
		}
		return strings.Join(nonEmpty(append(by, extra...)), ", ")
	},
	"revisions": func(d QueryData, expr string, extra ...string) string {
		if d.RevisionLabel == "" && d.PodLabel == "" {
			return expr
		}
		// Sum away every other label first, so label_replace runs over one
		// series per pod rather than per pod, code and caller.
		keep := nonEmpty([]string{d.NamespaceLabel, d.WorkloadLabel, d.RevisionLabel, d.PodLabel})
		keep = append(keep, nonEmpty(extra)...)
		expr = fmt.Sprintf("sum by (%s) (%s)", strings.Join(keep, ", "), expr)
		if d.PodLabel != "" {
			expr = fmt.Sprintf(`label_replace(%s, %q, "$1", %q, "(.+)-[^-]+")`, expr, RevisionLabel, d.PodLabel)
		}
		if d.RevisionLabel != "" {
			expr = fmt.Sprintf(`label_replace(%s, %q, "$1", %q, "(.+)")`, expr, RevisionLabel, d.RevisionLabel)
		}
		return expr
	},
	"sel":    selector,
	"failed": failed,
}

// selector builds a series selector from a metric name and matcher lists,
// leaving out empty ones.
func selector(metric string, matchers ...string) string {
	var ms []string
	for _, m := range matchers {
		if m = strings.TrimSpace(m); m != "" {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(ms, ", ") + "}"
}

// failed is the rate of the failed series: those whose response code
// matches, or whose gRPC status does, or that the failure selector
// selects. `or` keeps each series once, since a series that two selectors
// select has the same labels in both.
func failed(d QueryData) string {
	rate := func(matcher string) string {
		return fmt.Sprintf("rate(%s[%s])", selector(d.Metric, d.ReporterSelector, matcher), d.Window)
	}
	out := []string{rate(d.CodeLabel + "=~" + strconv.Quote(d.FailureCodes))}
	if d.GRPCLabel != "" {
		out = append(out, rate(d.GRPCLabel+"=~"+strconv.Quote(d.GRPCFailureCodes)))
	}
	if strings.TrimSpace(d.FailureSelector) != "" {
		out = append(out, rate(d.FailureSelector))
	}
	return strings.Join(out, " or ")
}

// nonEmpty leaves out the empty strings.
func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Ranges says how a server selects the samples of a range selector such
// as rate(x[1m]) evaluated at t.
type Ranges int

const (
	// RangesAuto asks the server (GET /api/v1/status/buildinfo) until it
	// answers: a 2.x version is RangesClosed; another version, none, or a
	// 404 is RangesLeftOpen. Polls before that answer use RangesLeftOpen.
	RangesAuto Ranges = iota
	// RangesLeftOpen is (t-w, t]: Prometheus 3.x, and sentinel's replay
	// (package counter). The query uses the rate window w as is.
	RangesLeftOpen
	// RangesClosed is [t-w, t]: Prometheus 2.x. The query uses w-1ms, which
	// selects exactly the samples of (t-w, t] (timestamps are whole
	// milliseconds), so a sample on the window's left edge — every poll,
	// when scrapes and polls share a grid, as in backfilled recordings —
	// is not counted twice.
	RangesClosed
)

func (r Ranges) String() string {
	switch r {
	case RangesLeftOpen:
		return "left-open"
	case RangesClosed:
		return "closed"
	}
	return "auto"
}

// NewQueryData returns the template data of a configuration, for a server
// whose ranges are r (RangesAuto is taken as RangesLeftOpen).
func NewQueryData(p config.Prometheus, d config.Detection, r Ranges) QueryData {
	w := d.RateWindow
	if r == RangesClosed && w > time.Millisecond {
		w -= time.Millisecond
	}
	q := QueryData{
		Metric: p.Metric, NamespaceLabel: p.NamespaceLabel, WorkloadLabel: p.WorkloadLabel,
		CodeLabel: p.CodeLabel, ReporterSelector: p.ReporterSelector, FailureSelector: p.FailureSelector,
		FailureCodes: d.FailureCodes, Window: promDuration(w),
		RevisionLabel: p.RevisionLabel, PodLabel: p.PodLabel,
	}
	if p.GRPCCodeLabel != "" && d.GRPCFailureCodes != "" {
		q.GRPCLabel, q.GRPCFailureCodes = p.GRPCCodeLabel, d.GRPCFailureCodes
	}
	return q
}

// RenderQuery renders the query sentinel sends to a server whose ranges
// are r: metrics.prometheus.query when set, else DefaultQuery. The result
// is parsed as PromQL, so a bad template, selector or regular expression
// is reported before the first poll. Errors begin with the configuration
// path at fault, as config.Validate's do.
func RenderQuery(p config.Prometheus, d config.Detection, r Ranges) (string, error) {
	text, path := p.Query, "metrics.prometheus.query"
	if strings.TrimSpace(text) == "" {
		text, path = DefaultQuery, "metrics.prometheus: the built-in query"
	}
	t, err := template.New("query").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, NewQueryData(p, d, r)); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	q := strings.TrimSpace(b.String())
	expr, err := parser.ParseExpr(q)
	if err != nil {
		return "", fmt.Errorf("%s: rendered as %q: %w", path, q, err)
	}
	if expr.Type() != parser.ValueTypeVector {
		return "", fmt.Errorf("%s: rendered as %q: must return an instant vector, returns %s", path, q, expr.Type())
	}
	return q, nil
}

// renderQueries renders the query for both kinds of server.
func renderQueries(p config.Prometheus, d config.Detection) (map[Ranges]string, error) {
	queries := map[Ranges]string{}
	for _, r := range []Ranges{RangesLeftOpen, RangesClosed} {
		q, err := RenderQuery(p, d, r)
		if err != nil {
			return nil, err
		}
		queries[r] = q
	}
	return queries, nil
}

// Check renders and parses cfg's query as New does, so `sentinel
// check-config` refuses what `sentinel run` would. It is a config.Check;
// with another metrics source there is nothing to check.
func Check(cfg config.Config) error {
	if cfg.Metrics.Source != "prometheus" {
		return nil
	}
	_, err := renderQueries(cfg.Metrics.Prometheus, cfg.Detection)
	return err
}

// promDuration writes d the way PromQL reads it (1m, 1m30s, 500ms).
func promDuration(d time.Duration) string {
	return model.Duration(d).String()
}
