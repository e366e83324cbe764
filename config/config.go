// Package config holds sentinel's configuration: the YAML schema, its
// defaults, strict decoding and validation.
//
// Decoding uses go.yaml.in/yaml/v3 with KnownFields, so every unknown key is
// reported (with its line), not only the first. Validate then reports every
// invalid value at once, each with its dotted path, in the style of
// Alertmanager's configuration.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is the whole configuration file.
type Config struct {
	Detection  Detection  `yaml:"detection"`
	Rollback   Rollback   `yaml:"rollback"`
	Paging     Paging     `yaml:"paging"`
	Kubernetes Kubernetes `yaml:"kubernetes"`
	Metrics    Metrics    `yaml:"metrics"`
	Run        Run        `yaml:"run"`
}

// Run configures the daemon (`sentinel run`).
type Run struct {
	// ListenAddress serves /metrics, /healthz and /readyz.
	ListenAddress  string         `yaml:"listen_address"`
	LeaderElection LeaderElection `yaml:"leader_election"`
}

// LeaderElection configures the coordination.k8s.io Lease that lets only
// one replica page and roll back.
type LeaderElection struct {
	Enabled bool `yaml:"enabled"`
	// Namespace of the Lease; empty uses $POD_NAMESPACE.
	Namespace     string        `yaml:"namespace"`
	LeaseName     string        `yaml:"lease_name"`
	LeaseDuration time.Duration `yaml:"lease_duration"`
	RenewDeadline time.Duration `yaml:"renew_deadline"`
	RetryPeriod   time.Duration `yaml:"retry_period"`
}

// Metrics chooses and configures the metrics backend.
type Metrics struct {
	// Source is "prometheus" or "datadog". No other value is accepted.
	Source     string     `yaml:"source"`
	Prometheus Prometheus `yaml:"prometheus"`
	Datadog    Datadog    `yaml:"datadog"`
	// QueryDelay is how long after each poll's instant the source is
	// asked about it, so samples scraped at that instant have landed and
	// every replica gets the same answer (and so the same onsets).
	QueryDelay time.Duration `yaml:"query_delay"`
	// BlindAfter is how many polls in a row without an answer make
	// sentinel blind: it logs, exports sentinel_blind 1 and, when
	// paging.pagerduty.page_when_blind is set, sends a low-urgency page.
	BlindAfter int `yaml:"blind_after"`
}

// Prometheus is the Prometheus HTTP API backend.
type Prometheus struct {
	URL             string        `yaml:"url"`
	BearerTokenFile string        `yaml:"bearer_token_file"`
	BasicAuth       BasicAuth     `yaml:"basic_auth"`
	TLS             TLS           `yaml:"tls"`
	Timeout         time.Duration `yaml:"timeout"`
	// Metric and the label names, for meshes and relabelings that differ.
	Metric         string `yaml:"metric"`
	NamespaceLabel string `yaml:"namespace_label"`
	WorkloadLabel  string `yaml:"workload_label"`
	CodeLabel      string `yaml:"code_label"`
	// ReporterSelector is added to the series selector; empty adds none.
	ReporterSelector string `yaml:"reporter_selector"`
	// RevisionLabel carries the serving pod's pod-template-hash (a
	// labelmap of __meta_kubernetes_pod_label_(.+) gives
	// pod_template_hash); PodLabel the pod's name, used where the hash is
	// missing. Either splits a workload's traffic by revision; empty
	// names none. Without both, workloads are judged as a whole.
	RevisionLabel string `yaml:"revision_label"`
	PodLabel      string `yaml:"pod_label"`
	// Query, when set, replaces the built-in query: a Go text/template
	// (see docs/metrics.md) that must return, per workload, one series with
	// sentinel_class="total" and one with sentinel_class="failed".
	Query string `yaml:"query"`
}

// BasicAuth for an HTTP backend; the password is read from a file.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// TLS for an HTTP backend.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Datadog is the Datadog metrics API backend.
type Datadog struct {
	// Site is the Datadog site, e.g. datadoghq.com or datadoghq.eu.
	Site string `yaml:"site"`
	// URL overrides the API base URL (tests, proxies); empty uses Site.
	URL string `yaml:"url"`
	// Keys are read from these files, or else from DD_API_KEY and
	// DD_APP_KEY.
	APIKeyFile string        `yaml:"api_key_file"`
	AppKeyFile string        `yaml:"app_key_file"`
	Timeout    time.Duration `yaml:"timeout"`
	// Metric is a count of requests tagged with the names below.
	Metric       string `yaml:"metric"`
	NamespaceTag string `yaml:"namespace_tag"`
	WorkloadTag  string `yaml:"workload_tag"`
	CodeTag      string `yaml:"code_tag"`
	// ReporterFilter is added to the query's scope; empty adds none.
	ReporterFilter string `yaml:"reporter_filter"`
	// RevisionTag splits a workload's traffic by the ReplicaSet of the
	// serving pod (the Datadog agent tags kube_replica_set); PodTag by the
	// pod's name where that tag is missing. Empty names none.
	RevisionTag string `yaml:"revision_tag"`
	PodTag      string `yaml:"pod_tag"`
}

// Kubernetes says which Deployments sentinel watches and how it reaches
// the API server.
type Kubernetes struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster.
	Kubeconfig string `yaml:"kubeconfig"`
	// Namespaces to watch; empty watches all.
	Namespaces []string `yaml:"namespaces"`
	// LabelSelector limits the watched Deployments and ReplicaSets.
	LabelSelector string `yaml:"label_selector"`
	// VerifyTimeout is how long sentinel waits for the controller to roll
	// out its rollback before it reports the rollback as unverified.
	VerifyTimeout time.Duration `yaml:"verify_timeout"`
	// RequestTimeout bounds every attempt at a rollback (its reads and its
	// write); RollbackTimeout bounds the retries of attempts that failed
	// for a reason that may pass (timeouts, connection loss, 5xx, 429).
	RequestTimeout  time.Duration `yaml:"request_timeout"`
	RollbackTimeout time.Duration `yaml:"rollback_timeout"`
}

// Detection says what counts as a failing workload and when to page.
type Detection struct {
	// PollInterval is how often the metrics source is queried.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RateWindow is the range over which per-series increases are taken,
	// like the [1m] of rate(istio_requests_total[1m]).
	RateWindow time.Duration `yaml:"rate_window"`
	// Threshold: a workload breaches when its failure ratio is above it.
	Threshold float64 `yaml:"threshold"`
	// For is how long the breach must hold before sentinel pages.
	For time.Duration `yaml:"for"`
	// MinRequestRate is the volume floor in requests per second over the
	// window; below it the ratio is unknown, never healthy or failing.
	MinRequestRate float64 `yaml:"min_request_rate"`
	// FailureCodes is a regular expression, anchored at both ends, that a
	// response code must match to count as a failure.
	FailureCodes string `yaml:"failure_codes"`
	// ResolveAfter is how long the ratio must stay at or below the
	// threshold before an incident resolves.
	ResolveAfter time.Duration `yaml:"resolve_after"`
	// LinkWindow is how long before the errors began a change can be
	// their cause.
	LinkWindow time.Duration `yaml:"link_window"`
	// ReopenWithin: a workload failing again this soon after its incident
	// resolved continues that incident (same id, same dedup key, no second
	// rollback) instead of opening a new one. 0 never reopens.
	ReopenWithin time.Duration `yaml:"reopen_within"`
}

// Rollback holds the automatic rollback policy and its guard rails.
type Rollback struct {
	Enabled bool `yaml:"enabled"`
	// DryRun decides and reports but never writes.
	DryRun bool `yaml:"dry_run"`
	// TrustedManagers are field managers whose image changes are never
	// rolled back (their own release process owns that path).
	TrustedManagers []string `yaml:"trusted_managers"`
	// Cooldown is the least time between two automatic rollbacks of one
	// Deployment.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxPerIncident caps automatic rollbacks in one incident.
	MaxPerIncident int `yaml:"max_per_incident"`
	// Healthy says when a revision counts as a safe rollback target.
	Healthy Healthy `yaml:"healthy"`
	// OptOut lists namespaces and Deployments sentinel never rolls back.
	OptOut OptOut `yaml:"opt_out"`
}

// Healthy defines a healthy revision.
type Healthy struct {
	MinDuration   time.Duration `yaml:"min_duration"`
	MaxErrorRatio float64       `yaml:"max_error_ratio"`
}

// OptOut lists what automatic rollback never touches.
type OptOut struct {
	Namespaces []string `yaml:"namespaces"`
	// Deployments are "namespace/name".
	Deployments []string `yaml:"deployments"`
}

// Paging holds what every page carries and where pages go.
type Paging struct {
	RunbookURL string `yaml:"runbook_url"`
	// DashboardURL, when set, is linked from pages; {{.Namespace}} and
	// {{.Workload}} are replaced.
	DashboardURL string    `yaml:"dashboard_url"`
	PagerDuty    PagerDuty `yaml:"pagerduty"`
}

// PagerDuty is the Events API v2 receiver.
type PagerDuty struct {
	Enabled bool `yaml:"enabled"`
	// URL is the Events API v2 enqueue endpoint.
	URL string `yaml:"url"`
	// The routing key is read from RoutingKeyFile, or else from the
	// environment variable RoutingKeyEnv. It never appears in logs.
	RoutingKeyFile string        `yaml:"routing_key_file"`
	RoutingKeyEnv  string        `yaml:"routing_key_env"`
	Severity       string        `yaml:"severity"`
	Timeout        time.Duration `yaml:"timeout"`
	// QueueSize bounds the incidents (dedup keys) with events waiting to
	// be delivered; resolves are always queued.
	QueueSize int `yaml:"queue_size"`
	// DriftNotices sends a low-urgency event when a watched Deployment's
	// image is changed outside the trusted deployers, even without errors.
	DriftNotices bool `yaml:"drift_notices"`
	// PageWhenBlind sends a low-urgency event when the metrics source has
	// not answered for metrics.blind_after polls.
	PageWhenBlind bool `yaml:"page_when_blind"`
}

// DefaultRunbookURL is the runbook shipped with sentinel.
const DefaultRunbookURL = "https://github.com/sentinel-sre/sentinel/blob/main/docs/runbook.md"

// OptOutAnnotation on a Deployment, set to false (any spelling
// strconv.ParseBool accepts: "false", "False", "0", "f"), disables
// automatic rollback of it.
const OptOutAnnotation = "sentinel.dev/rollback"

// OptedOut reads a Deployment's OptOutAnnotation. A value ParseBool does
// not accept is an error, and counts as opted out: whoever set it meant
// something, and rolling back is the act that cannot be taken back.
func OptedOut(annotations map[string]string) (bool, error) {
	v, ok := annotations[OptOutAnnotation]
	if !ok {
		return false, nil
	}
	on, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return true, fmt.Errorf("annotation %s=%q: want true or false; taken as opted out", OptOutAnnotation, v)
	}
	return !on, nil
}

// Default returns the configuration with every default filled in; it is
// what config.yaml at the repository root spells out.
func Default() Config {
	return Config{
		Detection: Detection{
			PollInterval:   15 * time.Second,
			RateWindow:     time.Minute,
			Threshold:      0.5,
			For:            30 * time.Second,
			MinRequestRate: 0.5,
			FailureCodes:   "5..",
			ResolveAfter:   3 * time.Minute,
			LinkWindow:     15 * time.Minute,
			ReopenWithin:   15 * time.Minute,
		},
		Rollback: Rollback{
			Enabled:         true,
			TrustedManagers: []string{"helm", "helm-controller", "kustomize-controller", "argocd-controller", "argocd-application-controller"},
			Cooldown:        30 * time.Minute,
			MaxPerIncident:  1,
			Healthy: Healthy{
				MinDuration:   5 * time.Minute,
				MaxErrorRatio: 0.05,
			},
		},
		Paging: Paging{RunbookURL: DefaultRunbookURL, PagerDuty: PagerDuty{
			URL: "https://events.pagerduty.com/v2/enqueue", RoutingKeyEnv: "PAGERDUTY_ROUTING_KEY",
			Severity: "critical", Timeout: 10 * time.Second, QueueSize: 1000,
		}},
		Metrics: Metrics{
			Source: "prometheus",
			Prometheus: Prometheus{
				URL: "http://prometheus.istio-system:9090", Timeout: 10 * time.Second,
				Metric: "istio_requests_total", NamespaceLabel: "destination_workload_namespace",
				WorkloadLabel: "destination_workload", CodeLabel: "response_code",
				ReporterSelector: `reporter="destination"`,
				RevisionLabel:    "pod_template_hash", PodLabel: "pod",
			},
			Datadog: Datadog{
				Site: "datadoghq.com", Timeout: 10 * time.Second, Metric: "istio.mesh.request.count.total",
				NamespaceTag: "destination_workload_namespace", WorkloadTag: "destination_workload",
				CodeTag: "response_code", ReporterFilter: "reporter:destination",
				RevisionTag: "kube_replica_set",
			},
			BlindAfter: 4,
			QueryDelay: 5 * time.Second,
		},
		Kubernetes: Kubernetes{VerifyTimeout: time.Minute, RequestTimeout: 10 * time.Second, RollbackTimeout: 5 * time.Minute},
		Run: Run{ListenAddress: ":8080", LeaderElection: LeaderElection{
			Enabled: true, LeaseName: "sentinel", LeaseDuration: 15 * time.Second,
			RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		}},
	}
}

// Load reads and validates a configuration file; every problem is reported
// in one error.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, prefixLines(path, err)
	}
	return c, nil
}

// Parse decodes strictly over the defaults, then validates.
func Parse(b []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var errs []error
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return Config{}, fmt.Errorf("parse: %w", err)
		}
		// Unknown keys and mistyped values: the rest was still decoded,
		// so validation below can report its problems too.
		errs = append(errs, decodeErrors(te, b)...)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

var notFound = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// sectionOf maps a Go type in yaml's messages to its path in the file.
var sectionOf = map[string]string{
	"config.Config":         "",
	"config.Detection":      "detection.",
	"config.Rollback":       "rollback.",
	"config.Healthy":        "rollback.healthy.",
	"config.OptOut":         "rollback.opt_out.",
	"config.Paging":         "paging.",
	"config.Kubernetes":     "kubernetes.",
	"config.Metrics":        "metrics.",
	"config.Prometheus":     "metrics.prometheus.",
	"config.BasicAuth":      "metrics.prometheus.basic_auth.",
	"config.TLS":            "metrics.prometheus.tls.",
	"config.Datadog":        "metrics.datadog.",
	"config.PagerDuty":      "paging.pagerduty.",
	"config.Run":            "run.",
	"config.LeaderElection": "run.leader_election.",
}

// decodeErrors rewrites yaml's messages into one line per problem, naming
// the key's path; src is the document.
func decodeErrors(te *yaml.TypeError, src []byte) []error {
	var errs []error
	for _, m := range te.Errors {
		if s := notFound.FindStringSubmatch(m); s != nil {
			m = fmt.Sprintf("%s%s: unknown key (line %s)", sectionOf[s[3]], s[2], s[1])
		} else {
			m = typeError(m, src)
		}
		errs = append(errs, errors.New(m))
	}
	return errs
}

func prefixLines(path string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = path + ": " + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// Validate reports every invalid value with its path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	positive := func(path string, d time.Duration) {
		if d <= 0 {
			bad(path, "must be positive, got %s", d)
		}
	}
	ratio := func(path string, v float64, allowZero bool) {
		if v > 1 || v < 0 || (v == 0 && !allowZero) || v != v {
			if allowZero {
				bad(path, "must be in [0,1], got %g", v)
			} else {
				bad(path, "must be in (0,1], got %g", v)
			}
		}
	}

	d := c.Detection
	positive("detection.poll_interval", d.PollInterval)
	positive("detection.rate_window", d.RateWindow)
	if d.RateWindow > 0 && d.PollInterval > 0 && d.RateWindow < 2*d.PollInterval {
		bad("detection.rate_window", "must be at least twice detection.poll_interval (%s), got %s", d.PollInterval, d.RateWindow)
	}
	// A ratio is never above 1, so a threshold of 1 could never page.
	if !(d.Threshold > 0 && d.Threshold < 1) {
		bad("detection.threshold", "must be in (0,1) (a ratio is never above 1), got %g", d.Threshold)
	}
	if d.For < 0 {
		bad("detection.for", "must not be negative, got %s", d.For)
	}
	if d.MinRequestRate <= 0 || d.MinRequestRate != d.MinRequestRate {
		bad("detection.min_request_rate", "must be positive (requests per second), got %g", d.MinRequestRate)
	}
	if _, err := CompileCodes(d.FailureCodes); err != nil {
		bad("detection.failure_codes", "%v", err)
	}
	positive("detection.resolve_after", d.ResolveAfter)
	positive("detection.link_window", d.LinkWindow)
	if d.ReopenWithin < 0 {
		bad("detection.reopen_within", "must not be negative (0 never reopens), got %s", d.ReopenWithin)
	}

	r := c.Rollback
	for i, m := range r.TrustedManagers {
		if strings.TrimSpace(m) == "" {
			bad(fmt.Sprintf("rollback.trusted_managers[%d]", i), "must not be empty")
		}
	}
	if r.Cooldown < 0 {
		bad("rollback.cooldown", "must not be negative, got %s", r.Cooldown)
	}
	// One rollback per incident is what the Deployment's annotation can
	// enforce across replicas and restarts; more is not supported.
	if r.MaxPerIncident < 0 || r.MaxPerIncident > 1 {
		bad("rollback.max_per_incident", "must be 0 or 1, got %d", r.MaxPerIncident)
	}
	positive("rollback.healthy.min_duration", r.Healthy.MinDuration)
	ratio("rollback.healthy.max_error_ratio", r.Healthy.MaxErrorRatio, true)
	if r.Healthy.MaxErrorRatio >= d.Threshold && d.Threshold > 0 && d.Threshold <= 1 {
		bad("rollback.healthy.max_error_ratio", "must be below detection.threshold (%g), got %g", d.Threshold, r.Healthy.MaxErrorRatio)
	}
	for i, ns := range r.OptOut.Namespaces {
		if strings.TrimSpace(ns) == "" || strings.Contains(ns, "/") {
			bad(fmt.Sprintf("rollback.opt_out.namespaces[%d]", i), "must be a namespace name, got %q", ns)
		}
	}
	for i, dep := range r.OptOut.Deployments {
		ns, name, ok := strings.Cut(dep, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			bad(fmt.Sprintf("rollback.opt_out.deployments[%d]", i), "must be namespace/name, got %q", dep)
		}
	}
	if c.Paging.RunbookURL != "" {
		httpURL("paging.runbook_url", c.Paging.RunbookURL, false, bad)
	}
	k := c.Kubernetes
	for i, ns := range k.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			bad(fmt.Sprintf("kubernetes.namespaces[%d]", i), "invalid namespace %q: %s", ns, strings.Join(errs, "; "))
		}
	}
	if _, err := labels.Parse(k.LabelSelector); err != nil {
		bad("kubernetes.label_selector", "%v", err)
	}
	positive("kubernetes.verify_timeout", k.VerifyTimeout)
	positive("kubernetes.request_timeout", k.RequestTimeout)
	if k.RollbackTimeout < k.RequestTimeout {
		bad("kubernetes.rollback_timeout", "must be at least kubernetes.request_timeout (%s), got %s", k.RequestTimeout, k.RollbackTimeout)
	}

	m := c.Metrics
	switch m.Source {
	case "prometheus":
		p := m.Prometheus
		httpURL("metrics.prometheus.url", p.URL, true, bad)
		positive("metrics.prometheus.timeout", p.Timeout)
		for path, v := range map[string]string{"metrics.prometheus.metric": p.Metric,
			"metrics.prometheus.namespace_label": p.NamespaceLabel, "metrics.prometheus.workload_label": p.WorkloadLabel,
			"metrics.prometheus.code_label": p.CodeLabel} {
			if !promName.MatchString(v) {
				bad(path, "must be a Prometheus name, got %q", v)
			}
		}
		for _, l := range []struct{ path, v string }{
			{"metrics.prometheus.revision_label", p.RevisionLabel}, {"metrics.prometheus.pod_label", p.PodLabel}} {
			if l.v != "" && !promName.MatchString(l.v) {
				bad(l.path, "must be a Prometheus name or empty, got %q", l.v)
			}
		}
		if p.BearerTokenFile != "" && p.BasicAuth.Username != "" {
			bad("metrics.prometheus.bearer_token_file", "cannot be used with basic_auth")
		}
		if (p.TLS.CertFile == "") != (p.TLS.KeyFile == "") {
			bad("metrics.prometheus.tls", "cert_file and key_file go together")
		}
	case "datadog":
		d := m.Datadog
		if d.URL != "" {
			httpURL("metrics.datadog.url", d.URL, true, bad)
		} else if d.Site == "" {
			bad("metrics.datadog.site", "must be set when metrics.datadog.url is not")
		}
		positive("metrics.datadog.timeout", d.Timeout)
		for path, v := range map[string]string{"metrics.datadog.metric": d.Metric,
			"metrics.datadog.namespace_tag": d.NamespaceTag, "metrics.datadog.workload_tag": d.WorkloadTag,
			"metrics.datadog.code_tag": d.CodeTag} {
			if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " {},") {
				bad(path, "must be a metric or tag name, got %q", v)
			}
		}
		for _, t := range []struct{ path, v string }{
			{"metrics.datadog.revision_tag", d.RevisionTag}, {"metrics.datadog.pod_tag", d.PodTag}} {
			if strings.ContainsAny(t.v, " {},") {
				bad(t.path, "must be a tag name or empty, got %q", t.v)
			}
		}
	default:
		bad("metrics.source", "must be prometheus or datadog, got %q", m.Source)
	}
	if m.QueryDelay < 0 || (d.PollInterval > 0 && m.QueryDelay >= d.PollInterval) {
		bad("metrics.query_delay", "must be at least 0 and shorter than detection.poll_interval (%s), got %s", d.PollInterval, m.QueryDelay)
	}
	if m.BlindAfter < 1 {
		bad("metrics.blind_after", "must be at least 1, got %d", m.BlindAfter)
	}

	pd := c.Paging.PagerDuty
	httpURL("paging.pagerduty.url", pd.URL, true, bad)
	if !strings.HasSuffix(pd.URL, "/v2/enqueue") {
		bad("paging.pagerduty.url", "must be the Events API v2 endpoint ending in /v2/enqueue, got %q", pd.URL)
	}
	if pd.Enabled && pd.RoutingKeyFile == "" && pd.RoutingKeyEnv == "" {
		bad("paging.pagerduty", "routing_key_file or routing_key_env must be set")
	}
	switch pd.Severity {
	case "critical", "error", "warning", "info":
	default:
		bad("paging.pagerduty.severity", "must be critical, error, warning or info, got %q", pd.Severity)
	}
	positive("paging.pagerduty.timeout", pd.Timeout)
	if pd.QueueSize < 1 {
		bad("paging.pagerduty.queue_size", "must be at least 1, got %d", pd.QueueSize)
	}
	if _, _, err := net.SplitHostPort(c.Run.ListenAddress); err != nil {
		bad("run.listen_address", "must be host:port, got %q", c.Run.ListenAddress)
	}
	le := c.Run.LeaderElection
	if le.Enabled {
		if errs := validation.IsDNS1123Subdomain(le.LeaseName); len(errs) > 0 {
			bad("run.leader_election.lease_name", "invalid name %q", le.LeaseName)
		}
		positive("run.leader_election.lease_duration", le.LeaseDuration)
		positive("run.leader_election.renew_deadline", le.RenewDeadline)
		positive("run.leader_election.retry_period", le.RetryPeriod)
		if le.RenewDeadline >= le.LeaseDuration {
			bad("run.leader_election.renew_deadline", "must be shorter than lease_duration (%s), got %s", le.LeaseDuration, le.RenewDeadline)
		}
		if le.RetryPeriod >= le.RenewDeadline {
			bad("run.leader_election.retry_period", "must be shorter than renew_deadline (%s), got %s", le.RenewDeadline, le.RetryPeriod)
		}
	}
	if c.Paging.DashboardURL != "" {
		httpURL("paging.dashboard_url", c.Paging.DashboardURL, false, bad)
		if _, err := template.New("dashboard_url").Option("missingkey=error").Parse(c.Paging.DashboardURL); err != nil {
			bad("paging.dashboard_url", "%v", err)
		}
	}
	return errors.Join(errs...)
}

var promName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// httpURL checks an absolute http(s) URL.
func httpURL(path, v string, required bool, bad func(string, string, ...any)) {
	if v == "" && !required {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(path, "must be an http(s) URL, got %q", v)
	}
}

// CompileCodes compiles a failure-code pattern anchored at both ends, so
// "5.." matches 500 and 503 but never 4xx or "1500".
func CompileCodes(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("must not be empty")
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", pattern, err)
	}
	return re, nil
}

// OptedOut reports whether config opts a Deployment out.
func (r Rollback) OptedOut(namespace, name string) bool {
	for _, ns := range r.OptOut.Namespaces {
		if ns == namespace {
			return true
		}
	}
	for _, d := range r.OptOut.Deployments {
		if d == namespace+"/"+name {
			return true
		}
	}
	return false
}

// Trusted reports whether a field manager is a trusted deployer.
func (r Rollback) Trusted(manager string) bool {
	for _, m := range r.TrustedManagers {
		if m == manager {
			return true
		}
	}
	return false
}
