package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// MinPollInterval is the shortest detection.poll_interval: each poll is a
// query, metrics are scraped every few seconds at best, and a replay polls
// as often as the daemon does (a day at 1ms is 86 million polls).
const MinPollInterval = time.Second

// problems collects every invalid value with its path, so Validate
// reports them all at once.
type problems struct{ errs []error }

func (v *problems) bad(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (v *problems) positive(path string, d time.Duration) {
	if d <= 0 {
		v.bad(path, "must be positive, got %s", d)
	}
}

func (v *problems) ratio(path string, r float64, allowZero bool) {
	if r > 1 || r < 0 || (r == 0 && !allowZero) || r != r {
		if allowZero {
			v.bad(path, "must be in [0,1], got %g", r)
		} else {
			v.bad(path, "must be in (0,1], got %g", r)
		}
	}
}

// Validate reports every invalid value with its path, section by section.
func (c Config) Validate() error {
	v := &problems{}
	validateDetection(v, c.Detection)
	validateRollback(v, c.Rollback, c.Detection)
	validateGuard(v, c.Guard)
	validateKubernetes(v, c.Kubernetes)
	validateMetrics(v, c.Metrics, c.Detection)
	validateMesh(v, c.Metrics, c.Detection)
	validatePaging(v, c.Paging)
	validateRun(v, c.Run)
	return errors.Join(v.errs...)
}

// validateDetection checks detection.*.
func validateDetection(v *problems, d Detection) {
	if d.PollInterval < MinPollInterval {
		v.bad("detection.poll_interval", "must be at least %s (each poll is a query, and no metric is scraped more often), got %s",
			MinPollInterval, d.PollInterval)
	}
	v.positive("detection.rate_window", d.RateWindow)
	if d.RateWindow > 0 && d.PollInterval >= MinPollInterval && d.RateWindow < 2*d.PollInterval {
		v.bad("detection.rate_window", "must be at least twice detection.poll_interval (%s), got %s", d.PollInterval, d.RateWindow)
	}
	switch t := d.Threshold; {
	case math.IsNaN(t):
		v.bad("detection.threshold", "must be a number above 0 and below 1, got NaN")
	case t <= 0:
		v.bad("detection.threshold", "must be above 0, got %g", t)
	case t >= 1:
		v.bad("detection.threshold", "must be below 1 (a failure ratio is never above 1, so it could never page), got %g", t)
	}
	if d.For < 0 {
		v.bad("detection.for", "must not be negative, got %s", d.For)
	}
	if !(d.MinRequestRate > 0) {
		v.bad("detection.min_request_rate", "must be positive (requests per second), got %g", d.MinRequestRate)
	} else if math.IsInf(d.MinRequestRate, 1) {
		// A floor no traffic reaches: every workload unknown, never paged.
		v.bad("detection.min_request_rate", "must be finite (requests per second), got %g", d.MinRequestRate)
	}
	if err := checkCodes(d.FailureCodes); err != nil {
		v.bad("detection.failure_codes", "%v", err)
	}
	v.positive("detection.resolve_after", d.ResolveAfter)
	v.positive("detection.link_window", d.LinkWindow)
	if d.ReopenWithin < 0 {
		v.bad("detection.reopen_within", "must not be negative (0 never reopens), got %s", d.ReopenWithin)
	}
}

// validateRollback checks rollback.*; its healthy ratio must be below the detection threshold.
func validateRollback(v *problems, r Rollback, d Detection) {
	for i, m := range r.TrustedManagers {
		if strings.TrimSpace(m) == "" {
			v.bad(fmt.Sprintf("rollback.trusted_managers[%d]", i), "must not be empty")
		}
	}
	if r.Cooldown < 0 {
		v.bad("rollback.cooldown", "must not be negative, got %s", r.Cooldown)
	}
	// One rollback per incident is what the Deployment's annotation can
	// enforce across replicas and restarts; more is not supported.
	if r.MaxPerIncident < 0 || r.MaxPerIncident > 1 {
		v.bad("rollback.max_per_incident", "must be 0 or 1, got %d", r.MaxPerIncident)
	}
	v.positive("rollback.healthy.min_duration", r.Healthy.MinDuration)
	v.ratio("rollback.healthy.max_error_ratio", r.Healthy.MaxErrorRatio, true)
	if r.Healthy.MaxErrorRatio >= d.Threshold && d.Threshold > 0 && d.Threshold <= 1 {
		v.bad("rollback.healthy.max_error_ratio", "must be below detection.threshold (%g), got %g", d.Threshold, r.Healthy.MaxErrorRatio)
	}
	for i, ns := range r.OptOut.Namespaces {
		if strings.TrimSpace(ns) == "" || strings.Contains(ns, "/") {
			v.bad(fmt.Sprintf("rollback.opt_out.namespaces[%d]", i), "must be a namespace name, got %q", ns)
		}
	}
	for i, dep := range r.OptOut.Deployments {
		ns, name, ok := strings.Cut(dep, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			v.bad(fmt.Sprintf("rollback.opt_out.deployments[%d]", i), "must be namespace/name, got %q", dep)
		}
	}
}

// validateKubernetes checks kubernetes.*.
func validateKubernetes(v *problems, k Kubernetes) {
	for i, ns := range k.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			v.bad(fmt.Sprintf("kubernetes.namespaces[%d]", i), "invalid namespace %q: %s", ns, strings.Join(errs, "; "))
		}
	}
	if _, err := labels.Parse(k.LabelSelector); err != nil {
		v.bad("kubernetes.label_selector", "%v", err)
	}
	v.positive("kubernetes.verify_timeout", k.VerifyTimeout)
	v.positive("kubernetes.request_timeout", k.RequestTimeout)
	if k.RollbackTimeout < k.RequestTimeout {
		v.bad("kubernetes.rollback_timeout", "must be at least kubernetes.request_timeout (%s), got %s", k.RequestTimeout, k.RollbackTimeout)
	}

}

// validateMetrics checks metrics.*: the chosen source's settings, and
// that a poll fits in its interval — asked query_delay after its instant
// and bounded by the source's timeout, it must be done before the next
// poll is due, or polls are skipped.
func validateMetrics(v *problems, m Metrics, d Detection) {
	var timeout time.Duration
	switch m.Source {
	case "prometheus":
		validatePrometheus(v, m.Prometheus)
		timeout = m.Prometheus.Timeout
	case "datadog":
		validateDatadog(v, m.Datadog)
		timeout = m.Datadog.Timeout
	default:
		v.bad("metrics.source", "must be prometheus or datadog, got %q", m.Source)
	}
	// Measured against a poll interval below the floor, query_delay and
	// the timeout would be blamed for detection.poll_interval's mistake.
	poll := d.PollInterval >= MinPollInterval
	switch {
	case m.QueryDelay < 0:
		v.bad("metrics.query_delay", "must not be negative, got %s", m.QueryDelay)
	case poll && m.QueryDelay >= d.PollInterval:
		v.bad("metrics.query_delay", "must be shorter than detection.poll_interval (%s), got %s", d.PollInterval, m.QueryDelay)
	case poll && timeout > 0 && m.QueryDelay+timeout >= d.PollInterval:
		v.bad("metrics."+m.Source+".timeout", "with metrics.query_delay (%s) must be shorter than detection.poll_interval (%s), "+
			"or a slow answer makes sentinel skip polls; got %s", m.QueryDelay, d.PollInterval, timeout)
	}
	if m.BlindAfter < 1 {
		v.bad("metrics.blind_after", "must be at least 1, got %d", m.BlindAfter)
	}
}

// named is a configured name and its path, checked in order.
type named struct{ path, value string }

func validatePrometheus(v *problems, p Prometheus) {
	httpURL("metrics.prometheus.url", p.URL, true, v.bad)
	v.positive("metrics.prometheus.timeout", p.Timeout)
	for _, n := range []named{{"metrics.prometheus.metric", p.Metric}, {"metrics.prometheus.namespace_label", p.NamespaceLabel},
		{"metrics.prometheus.workload_label", p.WorkloadLabel}, {"metrics.prometheus.code_label", p.CodeLabel}} {
		if !promName.MatchString(n.value) {
			v.bad(n.path, "must be a Prometheus name, got %q", n.value)
		}
	}
	for _, n := range []named{{"metrics.prometheus.revision_label", p.RevisionLabel}, {"metrics.prometheus.pod_label", p.PodLabel}} {
		if n.value != "" && !promName.MatchString(n.value) {
			v.bad(n.path, "must be a Prometheus name or empty, got %q", n.value)
		}
	}
	if sel := strings.TrimSpace(p.ReporterSelector); sel != "" && promName.MatchString(p.Metric) {
		// Parsed as the query will use it, so the parser's positions fit.
		if _, err := parser.ParseMetricSelector(p.Metric + "{" + sel + "}"); err != nil {
			v.bad("metrics.prometheus.reporter_selector", "must be PromQL label matchers without braces, such as %s; "+
				"series selector %q: %v", `reporter="destination"`, p.Metric+"{"+sel+"}", err)
		}
	}
	if p.BearerTokenFile != "" && p.BasicAuth.Username != "" {
		v.bad("metrics.prometheus.bearer_token_file", "cannot be used with basic_auth")
	}
	if (p.TLS.CertFile == "") != (p.TLS.KeyFile == "") {
		v.bad("metrics.prometheus.tls", "cert_file and key_file go together")
	}
}

func validateDatadog(v *problems, dd Datadog) {
	if dd.URL != "" {
		httpURL("metrics.datadog.url", dd.URL, true, v.bad)
	} else if dd.Site == "" {
		v.bad("metrics.datadog.site", "must be set when metrics.datadog.url is not")
	}
	v.positive("metrics.datadog.timeout", dd.Timeout)
	for _, n := range []named{{"metrics.datadog.metric", dd.Metric}, {"metrics.datadog.namespace_tag", dd.NamespaceTag},
		{"metrics.datadog.workload_tag", dd.WorkloadTag}, {"metrics.datadog.code_tag", dd.CodeTag}} {
		if strings.TrimSpace(n.value) == "" || strings.ContainsAny(n.value, " {},") {
			v.bad(n.path, "must be a metric or tag name, got %q", n.value)
		}
	}
	for _, n := range []named{{"metrics.datadog.revision_tag", dd.RevisionTag}, {"metrics.datadog.pod_tag", dd.PodTag}} {
		if strings.ContainsAny(n.value, " {},") {
			v.bad(n.path, "must be a tag name or empty, got %q", n.value)
		}
	}
}

// validatePaging checks paging.*.
func validatePaging(v *problems, pg Paging) {
	pd := pg.PagerDuty
	httpURL("paging.pagerduty.url", pd.URL, true, v.bad)
	if !strings.HasSuffix(pd.URL, "/v2/enqueue") {
		v.bad("paging.pagerduty.url", "must be the Events API v2 endpoint ending in /v2/enqueue, got %q", pd.URL)
	}
	if pd.Enabled && pd.RoutingKeyFile == "" && pd.RoutingKeyEnv == "" {
		v.bad("paging.pagerduty", "routing_key_file or routing_key_env must be set")
	}
	// Read as `sentinel run` reads it at start, so check-config refuses a
	// key file that is missing, empty or a directory too. routing_key_env
	// is not read: it belongs to the daemon's process, not to the file.
	if pd.Enabled && pd.RoutingKeyFile != "" {
		if _, err := ReadSecret(pd.RoutingKeyFile, ""); err != nil {
			v.bad("paging.pagerduty.routing_key_file", "%v", err)
		}
	}
	switch pd.Severity {
	case "critical", "error", "warning", "info":
	default:
		v.bad("paging.pagerduty.severity", "must be critical, error, warning or info, got %q", pd.Severity)
	}
	v.positive("paging.pagerduty.timeout", pd.Timeout)
	if pd.QueueSize < 1 {
		v.bad("paging.pagerduty.queue_size", "must be at least 1, got %d", pd.QueueSize)
	}
	if pg.RunbookURL != "" {
		httpURL("paging.runbook_url", pg.RunbookURL, false, v.bad)
	}
	if n := pg.ClusterName; n != strings.TrimSpace(n) || strings.ContainsAny(n, "\n\r\t") {
		v.bad("paging.cluster_name", "must be a name without surrounding spaces or line breaks, got %q", n)
	}
	if pg.DashboardURL != "" {
		httpURL("paging.dashboard_url", pg.DashboardURL, false, v.bad)
		t, err := template.New("dashboard_url").Option("missingkey=error").Parse(pg.DashboardURL)
		if err != nil {
			v.bad("paging.dashboard_url", "%v", err)
		} else if err := t.Execute(io.Discard, struct{ Namespace, Workload string }{"shop", "cart"}); err != nil {
			v.bad("paging.dashboard_url", "only {{.Namespace}} and {{.Workload}} can be used: %v", err)
		}
	}
}

// validateRun checks run.*.
func validateRun(v *problems, r Run) {
	if _, _, err := net.SplitHostPort(r.ListenAddress); err != nil {
		v.bad("run.listen_address", "must be host:port, got %q", r.ListenAddress)
	}
	if r.WarmUp < 0 {
		v.bad("run.warm_up", "must not be negative (0 starts cold), got %s", r.WarmUp)
	}
	le := r.LeaderElection
	if le.Enabled {
		if errs := validation.IsDNS1123Subdomain(le.LeaseName); len(errs) > 0 {
			v.bad("run.leader_election.lease_name", "invalid name %q", le.LeaseName)
		}
		v.positive("run.leader_election.lease_duration", le.LeaseDuration)
		v.positive("run.leader_election.renew_deadline", le.RenewDeadline)
		v.positive("run.leader_election.retry_period", le.RetryPeriod)
		if le.RenewDeadline >= le.LeaseDuration {
			v.bad("run.leader_election.renew_deadline", "must be shorter than lease_duration (%s), got %s", le.LeaseDuration, le.RenewDeadline)
		}
		if le.RetryPeriod >= le.RenewDeadline {
			v.bad("run.leader_election.retry_period", "must be shorter than renew_deadline (%s), got %s", le.RenewDeadline, le.RetryPeriod)
		}
	}
}
