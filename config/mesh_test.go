package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The query's names under each mesh, as docs/metrics.md tabulates them.
func TestMeshDefaults(t *testing.T) {
	type names struct {
		Metric, Namespace, Workload, Code, GRPC, Reporter, Failure, Revision, Pod string
		DatadogReporter, DatadogRevision                                          string
	}
	of := func(c Config) names {
		p, d := c.Metrics.Prometheus, c.Metrics.Datadog
		return names{p.Metric, p.NamespaceLabel, p.WorkloadLabel, p.CodeLabel, p.GRPCCodeLabel, p.ReporterSelector,
			p.FailureSelector, p.RevisionLabel, p.PodLabel, d.ReporterFilter, d.RevisionTag}
	}
	for _, tc := range []struct {
		mesh string
		want names
	}{
		{MeshIstio, names{"istio_requests_total", "destination_workload_namespace", "destination_workload", "response_code",
			"grpc_response_status", `reporter="destination"`, "", "pod_template_hash", "pod", "reporter:destination", "kube_replica_set"}},
		{MeshIstioAmbient, names{"istio_requests_total", "destination_workload_namespace", "destination_workload", "response_code",
			"grpc_response_status", `reporter="waypoint"`, "", "", "", "reporter:waypoint", ""}},
		{MeshLinkerd, names{"response_total", "namespace", "deployment", "status_code",
			"grpc_status", `direction="inbound"`, `classification="failure"`, "pod_template_hash", "pod", "reporter:destination", "kube_replica_set"}},
	} {
		t.Run(tc.mesh, func(t *testing.T) {
			def, ok := DefaultFor(tc.mesh)
			if !ok {
				t.Fatalf("DefaultFor(%q) does not know the mesh", tc.mesh)
			}
			if diff := cmp.Diff(tc.want, of(def)); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
			if def.Metrics.Mesh != tc.mesh {
				t.Errorf("mesh %q, want %q", def.Metrics.Mesh, tc.mesh)
			}
			if err := def.Validate(); err != nil {
				t.Errorf("the mesh's defaults are invalid: %v", err)
			}
			// A file naming the mesh alone gets its defaults.
			parsed, err := Parse([]byte("metrics:\n  mesh: " + tc.mesh + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(def, parsed, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("parsed (-DefaultFor +Parse):\n%s", diff)
			}
		})
	}
	if def, _ := DefaultFor(MeshIstio); !cmp.Equal(Default(), def, cmpopts.EquateEmpty()) {
		t.Error("DefaultFor(istio) differs from Default()")
	}
	if _, ok := DefaultFor("consul"); ok {
		t.Error("DefaultFor knows a mesh sentinel does not")
	}
}

// A key set in the file overrides its mesh's default; the others stay the
// mesh's.
func TestMeshDefaultsAreOverridable(t *testing.T) {
	c, err := Parse([]byte("metrics:\n  prometheus:\n    workload_label: app\n    pod_label: \"\"\n  mesh: linkerd\n" +
		"detection:\n  grpc_failure_codes: \"14\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := DefaultFor(MeshLinkerd)
	want.Metrics.Prometheus.WorkloadLabel = "app"
	want.Metrics.Prometheus.PodLabel = ""
	want.Detection.GRPCFailureCodes = "14"
	if diff := cmp.Diff(want, c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMeshBrokenConfigs(t *testing.T) {
	ambient := func(path, value string) string {
		return path + `: under metrics.mesh istio-ambient the series come from waypoint proxies, so "` + value +
			`" names the waypoint's pod, not the destination's revision; leave it empty (workloads are judged as a whole) ` +
			`or name a label the waypoint sets from the destination (Istio names those destination_*)`
	}
	cases := map[string][]string{
		"unknown.bad.yaml": {`metrics.mesh: must be istio, istio-ambient or linkerd, got "consul"`},
		"grpc-ok.bad.yaml": {`detection.grpc_failure_codes: "0|14" matches the status of OK (0), so successful requests ` +
			`would count as failures; the server-side failures are "2|4|13|14|15"`},
		"grpc-empty.bad.yaml": {`detection.grpc_failure_codes: ".*" matches the status of OK (0), so successful requests ` +
			`would count as failures; the server-side failures are "2|4|13|14|15"`},
		"grpc-syntax.bad.yaml": {"detection.grpc_failure_codes: invalid regular expression \"1(4\": error parsing regexp: missing closing ): `^(?:1(4)$`"},
		"ambient-sidecar.bad.yaml": {
			ambient("metrics.prometheus.revision_label", "pod_template_hash"),
			ambient("metrics.prometheus.pod_label", "pod"),
			ambient("metrics.datadog.revision_tag", "kube_replica_set"),
			`metrics.prometheus.reporter_selector: reporter="destination" selects sidecars' series, which an ambient mesh ` +
				`has none of; waypoints report reporter="waypoint" (the default under metrics.mesh istio-ambient)`,
		},
		"linkerd-istio.bad.yaml": {
			"metrics.prometheus.metric: istio_requests_total is Istio's; under metrics.mesh linkerd leave it out for Linkerd's response_total",
			"metrics.mesh: linkerd is read from Prometheus (metrics.source prometheus); for Datadog's Linkerd check set " +
				"metrics.mesh istio and name its metric and tags in metrics.datadog",
		},
		"labels.bad.yaml": {
			"metrics.prometheus.failure_selector: must be PromQL label matchers without braces, such as classification=\"failure\": " +
				"1:37: parse error: unexpected identifier \"failure\" in label matching, expected string",
			`metrics.prometheus.grpc_code_label: must be a Prometheus name or empty, got "grpc-status"`,
			`metrics.datadog.grpc_code_tag: must be a tag name or empty, got "grpc status"`,
		},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "mesh", "*.bad.yaml"))
	if len(files) != len(cases) {
		t.Errorf("%d broken configs in testdata/mesh, %d cases: keep them in step", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "mesh", name)
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var lines []string
			for _, w := range want {
				lines = append(lines, path+": "+w)
			}
			if got := err.Error(); got != strings.Join(lines, "\n") {
				t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(lines, "\n"))
			}
		})
	}
}

// gRPC statuses match whole, like response codes: "14" is not "4".
func TestGRPCCodesAreAnchored(t *testing.T) {
	re, err := CompileGRPCCodes(Default().Detection.GRPCFailureCodes)
	if err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]bool{"2": true, "4": true, "13": true, "14": true, "15": true,
		"0": false, "1": false, "3": false, "5": false, "7": false, "16": false, "140": false, "": false} {
		if got := re.MatchString(status); got != want {
			t.Errorf("%q matched %v, want %v", status, got, want)
		}
	}
	if re, err := CompileGRPCCodes(""); re != nil || err != nil {
		t.Errorf("empty pattern: %v, %v; want none and no error", re, err)
	}
}
