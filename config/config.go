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
	"os"
	"regexp"
	"strings"
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
	// LinkWindow is how long before onset a change can be its cause.
	LinkWindow time.Duration `yaml:"link_window"`
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

// Paging holds what every page carries.
type Paging struct {
	RunbookURL string `yaml:"runbook_url"`
}

// DefaultRunbookURL is the runbook shipped with sentinel.
const DefaultRunbookURL = "https://github.com/sentinel-sre/sentinel/blob/main/docs/runbook.md"

// OptOutAnnotation on a Deployment, set to "false", disables automatic
// rollback of that Deployment.
const OptOutAnnotation = "sentinel.dev/rollback"

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
		},
		Rollback: Rollback{
			Enabled:         true,
			TrustedManagers: []string{"helm"},
			Cooldown:        30 * time.Minute,
			MaxPerIncident:  1,
			Healthy: Healthy{
				MinDuration:   5 * time.Minute,
				MaxErrorRatio: 0.05,
			},
		},
		Paging:     Paging{RunbookURL: DefaultRunbookURL},
		Kubernetes: Kubernetes{VerifyTimeout: time.Minute},
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
		errs = append(errs, decodeErrors(te)...)
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
	"config.Config":     "",
	"config.Detection":  "detection.",
	"config.Rollback":   "rollback.",
	"config.Healthy":    "rollback.healthy.",
	"config.OptOut":     "rollback.opt_out.",
	"config.Paging":     "paging.",
	"config.Kubernetes": "kubernetes.",
}

// decodeErrors rewrites yaml's messages into one line per problem, naming
// the key's path.
func decodeErrors(te *yaml.TypeError) []error {
	var errs []error
	for _, m := range te.Errors {
		if s := notFound.FindStringSubmatch(m); s != nil {
			m = fmt.Sprintf("%s%s: unknown key (line %s)", sectionOf[s[3]], s[2], s[1])
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
	ratio("detection.threshold", d.Threshold, false)
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

	r := c.Rollback
	for i, m := range r.TrustedManagers {
		if strings.TrimSpace(m) == "" {
			bad(fmt.Sprintf("rollback.trusted_managers[%d]", i), "must not be empty")
		}
	}
	if r.Cooldown < 0 {
		bad("rollback.cooldown", "must not be negative, got %s", r.Cooldown)
	}
	if r.MaxPerIncident < 0 {
		bad("rollback.max_per_incident", "must not be negative, got %d", r.MaxPerIncident)
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
	if c.Paging.RunbookURL != "" && !strings.HasPrefix(c.Paging.RunbookURL, "https://") && !strings.HasPrefix(c.Paging.RunbookURL, "http://") {
		bad("paging.runbook_url", "must be an http(s) URL, got %q", c.Paging.RunbookURL)
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
	return errors.Join(errs...)
}

// CompileCodes compiles a failure-code pattern anchored at both ends, so
// "5.." matches 500 and 503 but never 4xx or "1500".
func CompileCodes(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("must not be empty")
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", pattern, err)
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
