package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// The meshes metrics.mesh names (docs/metrics.md has a table per mesh).
const (
	// MeshIstio: Istio's sidecars; istio_requests_total as the
	// destination's own sidecar reports it.
	MeshIstio = "istio"
	// MeshIstioAmbient: Istio's ambient mode, where L7 metrics come from
	// waypoint proxies (reporter="waypoint"). A series' pod labels are the
	// waypoint's, so no revision is read from them.
	MeshIstioAmbient = "istio-ambient"
	// MeshLinkerd: Linkerd's proxies, response_total{direction="inbound"}
	// with the labels linkerd-viz's scrape configuration adds.
	MeshLinkerd = "linkerd"
)

// Meshes lists the meshes metrics.mesh accepts.
func Meshes() []string { return []string{MeshIstio, MeshIstioAmbient, MeshLinkerd} }

// DefaultFor returns the defaults under a mesh: Default with the metric,
// label names, selectors and revision labels that mesh reports; false for
// a mesh sentinel does not know.
func DefaultFor(mesh string) (Config, bool) {
	c := Default()
	p, dd := &c.Metrics.Prometheus, &c.Metrics.Datadog
	switch mesh {
	case MeshIstio:
	case MeshIstioAmbient:
		// A waypoint reports for the destinations behind it; the pod
		// labels the scrape adds are the waypoint's own.
		p.ReporterSelector, p.RevisionLabel, p.PodLabel = `reporter="waypoint"`, "", ""
		dd.ReporterFilter, dd.RevisionTag, dd.PodTag = "reporter:waypoint", "", ""
	case MeshLinkerd:
		// Every inbound series is the destination pod's own proxy's, with
		// the pod's labels as linkerd-viz's scrape configuration copies them.
		p.Metric, p.NamespaceLabel, p.WorkloadLabel = "response_total", "namespace", "deployment"
		p.CodeLabel, p.GRPCCodeLabel = "status_code", "grpc_status"
		p.ReporterSelector, p.FailureSelector = `direction="inbound"`, `classification="failure"`
	default:
		return Default(), false
	}
	c.Metrics.Mesh = mesh
	return c, true
}

// defaultsOf returns the defaults of the mesh a file names, so the file
// is decoded over them; the defaults of MeshIstio when it names none, or
// one DefaultFor does not know (Validate reports it).
func defaultsOf(b []byte) Config {
	var peek struct {
		Metrics struct {
			Mesh string `yaml:"mesh"`
		} `yaml:"metrics"`
	}
	_ = yaml.Unmarshal(b, &peek) // a broken file is reported by the strict decoding
	c, _ := DefaultFor(peek.Metrics.Mesh)
	return c
}

// CompileGRPCCodes compiles a gRPC failure-status pattern anchored at both
// ends, as CompileCodes does; the empty pattern counts no status (nil).
func CompileGRPCCodes(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	return CompileCodes(pattern)
}

// checkGRPCCodes refuses a pattern that counts successes: the status of
// an OK call ("0") or of a request that is no gRPC call at all ("").
func checkGRPCCodes(pattern string) error {
	re, err := CompileGRPCCodes(pattern)
	if err != nil || re == nil {
		return err
	}
	for _, ok := range []struct{ status, what string }{{"0", "OK (0)"}, {"", "a request that is no gRPC call (empty)"}} {
		if re.MatchString(ok.status) {
			return fmt.Errorf("%q matches the status of %s, so successful requests would count as failures; "+
				"the server-side failures are %q", pattern, ok.what, Default().Detection.GRPCFailureCodes)
		}
	}
	return nil
}

// validateMesh checks metrics.mesh and what it implies of the rest:
// detection.grpc_failure_codes, metrics.prometheus.failure_selector, and
// that an ambient configuration names no waypoint's pod label as the
// destination's revision.
func validateMesh(v *problems, m Metrics, d Detection) {
	known := false
	for _, mesh := range Meshes() {
		known = known || m.Mesh == mesh
	}
	if !known {
		ms := Meshes()
		v.bad("metrics.mesh", "must be %s or %s, got %q", strings.Join(ms[:len(ms)-1], ", "), ms[len(ms)-1], m.Mesh)
	}
	if err := checkGRPCCodes(d.GRPCFailureCodes); err != nil {
		v.bad("detection.grpc_failure_codes", "%v", err)
	}
	p := m.Prometheus
	if sel := strings.TrimSpace(p.FailureSelector); sel != "" && promName.MatchString(p.Metric) {
		if _, err := parser.ParseMetricSelector(p.Metric + "{" + sel + "}"); err != nil {
			v.bad("metrics.prometheus.failure_selector", "must be PromQL label matchers without braces, such as %s: %v",
				`classification="failure"`, err)
		}
	}
	if p.GRPCCodeLabel != "" && !promName.MatchString(p.GRPCCodeLabel) {
		v.bad("metrics.prometheus.grpc_code_label", "must be a Prometheus name or empty, got %q", p.GRPCCodeLabel)
	}
	if strings.ContainsAny(m.Datadog.GRPCCodeTag, " {},") {
		v.bad("metrics.datadog.grpc_code_tag", "must be a tag name or empty, got %q", m.Datadog.GRPCCodeTag)
	}
	switch m.Mesh {
	case MeshIstioAmbient:
		validateAmbient(v, m)
	case MeshLinkerd:
		validateLinkerd(v, m)
	}
}

// waypointLabel reports whether a label or tag is one a scrape (or the
// Datadog Agent) takes from the scraped pod — under ambient the waypoint,
// never the destination. Istio names what it reports of the destination
// destination_*.
func waypointLabel(name string) bool {
	return name != "" && !strings.HasPrefix(name, "destination_")
}

// validateAmbient refuses what would read a waypoint as its destinations:
// a revision or pod label of the scraped pod, and the sidecars' reporter.
func validateAmbient(v *problems, m Metrics) {
	const why = "under metrics.mesh %s the series come from waypoint proxies, so %q names the waypoint's pod, " +
		"not the destination's revision; leave it empty (workloads are judged as a whole) or name a label " +
		"the waypoint sets from the destination (Istio names those destination_*)"
	for _, n := range []named{{"metrics.prometheus.revision_label", m.Prometheus.RevisionLabel},
		{"metrics.prometheus.pod_label", m.Prometheus.PodLabel},
		{"metrics.datadog.revision_tag", m.Datadog.RevisionTag}, {"metrics.datadog.pod_tag", m.Datadog.PodTag}} {
		if waypointLabel(n.value) {
			v.bad(n.path, why, MeshIstioAmbient, n.value)
		}
	}
	if sidecar := Default().Metrics.Prometheus.ReporterSelector; strings.TrimSpace(m.Prometheus.ReporterSelector) == sidecar {
		v.bad("metrics.prometheus.reporter_selector", "%s selects sidecars' series, which an ambient mesh has none of; "+
			"waypoints report %s (the default under metrics.mesh %s)", sidecar, `reporter="waypoint"`, MeshIstioAmbient)
	}
}

// validateLinkerd refuses Istio's metric under Linkerd (a file written
// for Istio with only its mesh changed) and Datadog, whose Linkerd check
// sentinel has no query for.
func validateLinkerd(v *problems, m Metrics) {
	if istio := Default().Metrics.Prometheus.Metric; m.Prometheus.Metric == istio {
		v.bad("metrics.prometheus.metric", "%s is Istio's; under metrics.mesh %s leave it out for Linkerd's response_total", istio, MeshLinkerd)
	}
	if m.Source == "datadog" {
		v.bad("metrics.mesh", "%s is read from Prometheus (metrics.source prometheus); for Datadog's Linkerd check "+
			"set metrics.mesh %s and name its metric and tags in metrics.datadog", MeshLinkerd, MeshIstio)
	}
}
