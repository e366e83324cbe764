package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// check-config prints the query the configuration sends: the golden
// queries of source/prometheus, for a file that names only its mesh.
func TestCheckConfigPrintsTheQuery(t *testing.T) {
	for _, tc := range []struct{ mesh, golden string }{
		{"istio", "default.golden"}, {"istio-ambient", "istio_ambient.golden"}, {"linkerd", "linkerd.golden"},
	} {
		t.Run(tc.mesh, func(t *testing.T) {
			q, err := os.ReadFile(filepath.Join("..", "..", "source", "prometheus", "testdata", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			p := write(t, t.TempDir(), "config.yaml", "metrics:\n  mesh: "+tc.mesh+"\n")
			stdout, stderr, errText := sentinel(t, "check-config", p)
			if errText != "" {
				t.Fatalf("check-config: %s\n%s", errText, stderr)
			}
			want := p + ": ok\nmesh: " + tc.mesh + "\nprometheus query (a 2.x server is sent [59s999ms] for [1m]):\n  " + string(q)
			if diff := cmp.Diff(want, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
	p := write(t, t.TempDir(), "config.yaml", "metrics:\n  source: datadog\n  mesh: istio-ambient\n")
	stdout, _, errText := sentinel(t, "check-config", p)
	want := "datadog query:\n  sum:istio.mesh.request.count.total{reporter:waypoint} by " +
		"{destination_workload_namespace,destination_workload,response_code,grpc_response_status}.as_count()\n"
	if errText != "" || !strings.HasSuffix(stdout, want) {
		t.Errorf("datadog: %q, error %q; want it to end in %q", stdout, errText, want)
	}
}
