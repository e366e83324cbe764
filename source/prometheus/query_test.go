package prometheus

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
	}
}

func TestRenderQueryGolden(t *testing.T) {
	custom := config.Default()
	custom.Metrics.Prometheus.Metric = "mesh_requests_total"
	custom.Metrics.Prometheus.NamespaceLabel = "namespace"
	custom.Metrics.Prometheus.WorkloadLabel = "app"
	custom.Metrics.Prometheus.CodeLabel = "code"
	custom.Metrics.Prometheus.ReporterSelector = ""
	custom.Detection.FailureCodes = `5\d\d|429`
	custom.Detection.RateWindow = 90 * time.Second
	custom.Metrics.Prometheus.PodLabel = "kubernetes_pod_name"
	custom.Metrics.Prometheus.RevisionLabel = ""

	workloadOnly := config.Default()
	workloadOnly.Metrics.Prometheus.PodLabel = ""
	workloadOnly.Metrics.Prometheus.RevisionLabel = ""

	template := config.Default()
	template.Metrics.Prometheus.Query = `
		label_replace(sum by ({{.NamespaceLabel}}, {{.WorkloadLabel}}) (rate({{sel .Metric .ReporterSelector}}[{{.Window}}])), "sentinel_class", "total", "", "")
		or
		label_replace(sum by ({{.NamespaceLabel}}, {{.WorkloadLabel}}) (rate({{sel .Metric .ReporterSelector "response_flags!=\"DC\"" (printf "%s=~%s" .CodeLabel (quote .FailureCodes))}}[{{.Window}}])), "sentinel_class", "failed", "", "")`

	// Without gRPC statuses the query is the one sentinel sent before it
	// judged them: grpc_off.golden is that query, unchanged.
	grpcOff := config.Default()
	grpcOff.Detection.GRPCFailureCodes = ""
	ambient, _ := config.DefaultFor(config.MeshIstioAmbient)
	linkerd, _ := config.DefaultFor(config.MeshLinkerd)

	for _, tc := range []struct {
		file   string
		cfg    config.Config
		ranges Ranges
	}{
		{"default.golden", config.Default(), RangesLeftOpen},
		{"default_prometheus2.golden", config.Default(), RangesClosed},
		{"relabelled.golden", custom, RangesLeftOpen},
		{"custom_template.golden", template, RangesLeftOpen},
		{"workload_only.golden", workloadOnly, RangesLeftOpen},
		{"grpc_off.golden", grpcOff, RangesLeftOpen},
		{"istio_ambient.golden", ambient, RangesLeftOpen},
		{"linkerd.golden", linkerd, RangesLeftOpen},
	} {
		t.Run(tc.file, func(t *testing.T) {
			q, err := RenderQuery(tc.cfg.Metrics.Prometheus, tc.cfg.Detection, tc.ranges)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, q+"\n")
		})
	}
}

func TestRenderQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name, query, reporter, want string
	}{
		{"template syntax", `sum({{.Metric}`, "", "metrics.prometheus.query: template: query:1: bad character"},
		{"unknown field", `{{.Nope}}`, "", `can't evaluate field Nope`},
		{"not promql", `sum by (`, "", `metrics.prometheus.query: rendered as "sum by (": 1:9: parse error: unclosed left parenthesis`},
		{"not a vector", `"a string"`, "", "must return an instant vector, returns string"},
		{"range vector", `{{sel .Metric}}[5m]`, "", "must return an instant vector, returns matrix"},
		{"bad reporter selector", "", `reporter="destination`, `metrics.prometheus: the built-in query: rendered as "label_replace(`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.Metrics.Prometheus.Query = tc.query
			if tc.reporter != "" {
				c.Metrics.Prometheus.ReporterSelector = tc.reporter
			}
			_, err := RenderQuery(c.Metrics.Prometheus, c.Detection, RangesLeftOpen)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestQueryDataWindow(t *testing.T) {
	c := config.Default()
	for _, tc := range []struct {
		window time.Duration
		ranges Ranges
		want   string
	}{
		{time.Minute, RangesLeftOpen, "1m"},
		{time.Minute, RangesAuto, "1m"},
		{time.Minute, RangesClosed, "59s999ms"},
		{90 * time.Second, RangesLeftOpen, "1m30s"},
		{2 * time.Minute, RangesClosed, "1m59s999ms"},
	} {
		c.Detection.RateWindow = tc.window
		if got := NewQueryData(c.Metrics.Prometheus, c.Detection, tc.ranges).Window; got != tc.want {
			t.Errorf("window %s, %s: got %s, want %s", tc.window, tc.ranges, got, tc.want)
		}
	}
}

// The broken queries in testdata pass config.Validate; with Check, as
// check-config and run load them, each is refused with its path and the
// exact reason.
func TestBrokenQueries(t *testing.T) {
	cases := map[string]string{
		"query-field.bad.yaml": "metrics.prometheus.query: template: query:1:6: executing \"query\" at <.Namespace>: " +
			"can't evaluate field Namespace in type prometheus.QueryData",
		"query-template.bad.yaml": "metrics.prometheus.query: template: query:1: bad character U+007D '}'",
		"query-promql.bad.yaml": "metrics.prometheus.query: rendered as \"sum by (destination_workload_namespace) (rate(istio_requests_total[1m])\": " +
			"1:72: parse error: unclosed left parenthesis",
		"query-range.bad.yaml": "metrics.prometheus.query: rendered as \"istio_requests_total{reporter=\\\"destination\\\"}[1m]\": " +
			"must return an instant vector, returns matrix",
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	if len(files) != len(cases) {
		t.Errorf("%d broken configs in testdata, %d cases: keep them in step", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			if _, err := config.Load(path); err != nil {
				t.Fatalf("config.Validate refused it already: %v", err)
			}
			_, err := config.Load(path, Check)
			if err == nil || err.Error() != path+": "+want {
				t.Errorf("error:\n%v\nwant:\n%s: %s", err, path, want)
			}
		})
	}
}

func TestCheckOtherSource(t *testing.T) {
	c := config.Default()
	c.Metrics.Prometheus.Query = "sum by ("
	if err := Check(c); err == nil {
		t.Error("a broken query passed with the prometheus source")
	}
	c.Metrics.Source = "datadog"
	if err := Check(c); err != nil {
		t.Errorf("datadog source, whose query this is not: %v", err)
	}
	if err := Check(config.Default()); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
