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
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	Detection  Detection  `yaml:"detection"`
	Rollback   Rollback   `yaml:"rollback"`
	Guard      Guard      `yaml:"guard"`
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
	// WarmUp is how much metrics history a starting replica replays, as a
	// standby, before its first live poll: revisions' health is known at
	// once and an incident under way keeps its onset (and so its id and
	// dedup key). 0 starts cold.
	WarmUp time.Duration `yaml:"warm_up"`
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
	// GRPCFailureCodes is a regular expression, anchored at both ends,
	// that a gRPC call's status must match to count as a failure whatever
	// its HTTP status; empty counts none.
	GRPCFailureCodes string `yaml:"grpc_failure_codes"`
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
	DashboardURL string `yaml:"dashboard_url"`
	// ClusterName names this cluster in change events (their
	// payload.source and custom_details.cluster); empty names none.
	ClusterName string    `yaml:"cluster_name"`
	PagerDuty   PagerDuty `yaml:"pagerduty"`
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
	// ChangeEvents sends a PagerDuty change event for every image change
	// of a watched Deployment and every rollback sentinel writes.
	ChangeEvents bool `yaml:"change_events"`
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

			// The server-side failures: UNKNOWN, DEADLINE_EXCEEDED,
			// INTERNAL, UNAVAILABLE, DATA_LOSS (as Linkerd's classifier).
			GRPCFailureCodes: "2|4|13|14|15",
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
		Guard: Guard{Identities: defaultIdentities()},
		Paging: Paging{RunbookURL: DefaultRunbookURL, PagerDuty: PagerDuty{
			URL: "https://events.pagerduty.com/v2/enqueue", RoutingKeyEnv: "PAGERDUTY_ROUTING_KEY",
			Severity: "critical", Timeout: 10 * time.Second, QueueSize: 1000,
		}},
		Metrics: Metrics{
			Source: "prometheus",
			Mesh:   MeshIstio,
			Prometheus: Prometheus{
				URL: "http://prometheus.istio-system:9090", Timeout: 9 * time.Second,
				Metric: "istio_requests_total", NamespaceLabel: "destination_workload_namespace",
				WorkloadLabel: "destination_workload", CodeLabel: "response_code",
				GRPCCodeLabel: "grpc_response_status", ReporterSelector: `reporter="destination"`,
				RevisionLabel: "pod_template_hash", PodLabel: "pod",
			},
			Datadog: Datadog{
				Site: "datadoghq.com", Timeout: 9 * time.Second, Metric: "istio.mesh.request.count.total",
				NamespaceTag: "destination_workload_namespace", WorkloadTag: "destination_workload",
				CodeTag: "response_code", GRPCCodeTag: "grpc_response_status", ReporterFilter: "reporter:destination",
				RevisionTag: "kube_replica_set",
			},
			BlindAfter: 4,
			QueryDelay: 5 * time.Second,
		},
		Kubernetes: Kubernetes{VerifyTimeout: time.Minute, RequestTimeout: 10 * time.Second, RollbackTimeout: 5 * time.Minute},
		Run: Run{ListenAddress: ":8080", WarmUp: 15 * time.Minute, LeaderElection: LeaderElection{
			Enabled: true, LeaseName: "sentinel", LeaseDuration: 15 * time.Second,
			RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		}},
	}
}

// Load reads and validates a configuration file; every problem is reported
// in one error, each line prefixed with path.
func Load(path string, checks ...Check) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b, checks...)
	if err != nil {
		return Config{}, prefixLines(path, err)
	}
	return c, nil
}

// A Check is a further check, by a package config cannot import, of a
// configuration that has passed Validate (a metrics source rendering its
// query from it, say). Like Validate it reports every problem, each as a
// line "path: message".
type Check func(Config) error

// Parse decodes strictly over the defaults of the file's metrics.mesh
// (DefaultFor), then validates. The checks run only on a configuration
// that is otherwise valid: they build on values Validate checks, and a
// mistake is reported once, where it was made.
func Parse(b []byte, checks ...Check) (Config, error) {
	c := defaultsOf(b)
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
	n, err := documents(b)
	if err != nil {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	if n > 1 {
		// Only the first was decoded: the others would be ignored.
		errs = append([]error{fmt.Errorf("%d YAML documents; sentinel reads one", n)}, errs...)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		for _, check := range checks {
			if err := check(c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// documents counts the YAML documents in b up to the last one with
// content, so a file ending in "---" (as templating often leaves it) is
// one document, and one starting with two is two.
func documents(b []byte) (int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	n, last := 0, 0
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return last, nil
		} else if err != nil {
			return 0, err
		}
		n++
		if len(doc.Content) > 0 && doc.Content[0].Tag != "!!null" {
			last = n
		}
	}
}

func prefixLines(path string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = path + ": " + l
	}
	return errors.New(strings.Join(lines, "\n"))
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
