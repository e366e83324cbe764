package scenariogen

import (
	"strings"

	"github.com/sentinel-sre/sentinel/config"
)

// The series each mesh writes: its metric, its labels, in the order its
// recordings list them.

// header is metrics.om's metric family.
func (s *Scenario) header() string {
	if s.opts.Mesh == config.MeshLinkerd {
		return "# HELP response Total responses.\n# TYPE response counter\n"
	}
	return "# HELP istio_requests Total requests.\n# TYPE istio_requests counter\n"
}

// podPrefix is one series of a pod: its name and labels followed by a
// space, and the outcome it counts.
type podPrefix struct {
	text    string
	outcome int
}

// podSeries lists a pod's series, reporter by reporter and outcome by
// outcome: Istio's sidecars (one per reporter), or the pod's Linkerd
// proxy (inbound).
func (s *Scenario) podSeries(w *Workload, p pod, outs []outcome) []podPrefix {
	var out []podPrefix
	if s.opts.Mesh == config.MeshLinkerd {
		for oi, o := range outs {
			out = append(out, podPrefix{s.linkerdSeries(w, p, o), oi})
		}
		return out
	}
	for _, rep := range s.opts.Reporters {
		for oi, o := range outs {
			out = append(out, podPrefix{s.istioSeries(w, p.name, "", rep, o), oi})
		}
	}
	return out
}

// waypointSeries is the series of a workload's outcome as its namespace's
// waypoint reports it: Istio's labels of the destination, and the
// waypoint's own pod labels, which the scrape adds.
func (s *Scenario) waypointSeries(w *Workload, o outcome) string {
	h := safeEncodeDecimal(uint32(mix(s.opts.Seed, hashString(w.spec.Namespace), 7, 11)))
	pod := "waypoint-" + h + "-" + safeEncode(mix(s.opts.Seed, hashString(w.spec.Namespace), 13, 17), 5)
	return s.istioSeries(w, pod, h, "waypoint", o)
}

// labels writes name{label="value",...} followed by a space.
type labels struct{ b strings.Builder }

func newLabels(metric string) *labels {
	l := &labels{}
	l.b.WriteString(metric)
	l.b.WriteByte('{')
	return l
}

func (l *labels) add(name, value string) {
	if s := l.b.String(); s[len(s)-1] != '{' {
		l.b.WriteByte(',')
	}
	l.b.WriteString(name)
	l.b.WriteString(`="`)
	l.b.WriteString(escapeLabel(value))
	l.b.WriteByte('"')
}

func (l *labels) String() string { return l.b.String() + "} " }

// istioSeries is an istio_requests_total series reported by pod (with
// pod_template_hash hash, when set).
func (s *Scenario) istioSeries(w *Workload, pod, hash, reporter string, o outcome) string {
	full := !s.opts.MinimalLabels
	sp := w.spec
	l := newLabels("istio_requests_total")
	l.add("destination_workload", sp.Name)
	l.add("destination_workload_namespace", sp.Namespace)
	if full {
		l.add("destination_service_name", sp.Name)
	}
	if o.grpc != "" {
		l.add("grpc_response_status", o.grpc)
	}
	l.add("pod", pod)
	if hash != "" {
		l.add("pod_template_hash", hash)
	}
	l.add("reporter", reporter)
	if full {
		protocol := "http"
		if sp.GRPC {
			protocol = "grpc"
		}
		l.add("request_protocol", protocol)
	}
	l.add("response_code", o.code)
	if full {
		l.add("response_flags", "-")
		l.add("source_workload", sp.Source)
		l.add("source_workload_namespace", sp.SourceNamespace)
	}
	return l.String()
}

// linkerdSeries is a response_total series of pod's proxy, inbound, with
// the labels linkerd-viz's scrape configuration adds (namespace, pod,
// deployment from linkerd.io/proxy-deployment, pod_template_hash).
func (s *Scenario) linkerdSeries(w *Workload, p pod, o outcome) string {
	l := newLabels("response_total")
	l.add("classification", linkerdClass(o))
	l.add("deployment", w.spec.Name)
	l.add("direction", "inbound")
	if o.grpc != "" {
		l.add("grpc_status", o.grpc)
	}
	l.add("namespace", w.spec.Namespace)
	l.add("pod", p.name)
	l.add("pod_template_hash", p.hash)
	l.add("status_code", o.code)
	if !s.opts.MinimalLabels {
		l.add("tls", "true")
	}
	return l.String()
}

// linkerdClass classifies a response as Linkerd's proxy does by default:
// by its gRPC status when it has one (UNKNOWN, DEADLINE_EXCEEDED,
// INTERNAL, UNAVAILABLE and DATA_LOSS fail), else by its HTTP status
// (5xx fails).
func linkerdClass(o outcome) string {
	failed := strings.HasPrefix(o.code, "5")
	if o.grpc != "" {
		switch o.grpc {
		case "2", "4", "13", "14", "15":
			failed = true
		default:
			failed = false
		}
	}
	if failed {
		return "failure"
	}
	return "success"
}
