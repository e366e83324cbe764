package simulate_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/workload"
)

// TestReplayProgress: progress is told for reading metrics.om (up to its
// size) and then for every poll (up to their number).
func TestReplayProgress(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "kubectl-set-image")
	st, err := os.Stat(filepath.Join(dir, simulate.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]simulate.Progress{}
	var phases []string
	var c notify.Collect
	res, err := simulate.Replay(t.Context(), dir, config.Default(), &c, simulate.Options{Progress: func(p simulate.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		last[p.Phase] = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]simulate.Progress{
		simulate.PhaseRead:   {Phase: simulate.PhaseRead, Done: st.Size(), Total: st.Size()},
		simulate.PhaseReplay: {Phase: simulate.PhaseReplay, Done: int64(res.Polls), Total: int64(res.Polls)},
	}
	if diff := cmp.Diff(want, last); diff != "" {
		t.Errorf("last progress (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{simulate.PhaseRead, simulate.PhaseReplay}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}

// TestReplayNothingToReplay: a recording without usable samples says
// why.
func TestReplayNothingToReplay(t *testing.T) {
	objects, err := os.ReadFile(filepath.Join("..", "..", "examples", "kubectl-set-image", simulate.ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	const series = `istio_requests_total{destination_workload="cart",destination_workload_namespace="shop",reporter="destination",response_code="200"}`
	renamed := config.Default()
	renamed.Metrics.Prometheus.Metric = "mesh_requests_total"
	for _, tc := range []struct {
		name, metrics string
		cfg           config.Config
		want          string
	}{
		{"no timestamps", series + " 1\n" + series + " 2\n# EOF\n", config.Default(),
			"2 samples of istio_requests_total{reporter=\"destination\"} and none has a timestamp: a replay places " +
				"every sample in time, so each line must end in one, in seconds (name{labels} value 1773133200)"},
		{"another metric", series + " 1 1773133200\n# EOF\n", renamed,
			"no samples of mesh_requests_total{reporter=\"destination\"} (metrics.prometheus: metric, reporter_selector) " +
				"to replay; the file has 1 sample of other series"},
		{"empty", "# EOF\n", config.Default(), "no samples of istio_requests_total{reporter=\"destination\"} to replay"},
		{"only bad values", series + " NaN 1773133200\n# EOF\n", config.Default(),
			"no samples of istio_requests_total{reporter=\"destination\"} to replay (skipped: bad_value=1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range map[string]string{simulate.MetricsFile: tc.metrics, simulate.ObjectsFile: string(objects)} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var c notify.Collect
			_, err := simulate.Run(t.Context(), dir, tc.cfg, &c)
			got := ""
			if err != nil {
				got = strings.TrimPrefix(err.Error(), filepath.Join(dir, simulate.MetricsFile)+": ")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReplayHonoursPrometheusNames: a recording of a mesh with other
// metric and label names, replayed with metrics.prometheus naming them,
// takes the same actions as the original.
func TestReplayHonoursPrometheusNames(t *testing.T) {
	src := filepath.Join("..", "..", "examples", "kubectl-set-image")
	om, err := os.ReadFile(filepath.Join(src, simulate.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := os.ReadFile(filepath.Join(src, simulate.ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.NewReplacer("istio_requests_total{", "mesh_requests_total{",
		"destination_workload_namespace=", "wns=", "destination_workload=", "wl=", "response_code=", "code=",
		`reporter="destination"`, `side="server"`, `reporter="source"`, `side="client"`).Replace(string(om))
	dir := t.TempDir()
	for name, text := range map[string]string{simulate.MetricsFile: renamed, simulate.ObjectsFile: string(objects)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	p := &cfg.Metrics.Prometheus
	p.Metric, p.NamespaceLabel, p.WorkloadLabel, p.CodeLabel, p.ReporterSelector = "mesh_requests_total", "wns", "wl", "code", `side="server"`

	var want, got, defaults notify.Collect
	if _, err := simulate.Run(t.Context(), src, config.Default(), &want); err != nil {
		t.Fatal(err)
	}
	if _, err := simulate.Run(t.Context(), dir, cfg, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(describe(want.Actions), describe(got.Actions)); diff != "" || len(want.Actions) == 0 {
		t.Errorf("actions with renamed series (-want +got):\n%s", diff)
	}
	// Read with the default names, the renamed recording has nothing.
	_, err = simulate.Run(t.Context(), dir, config.Default(), &defaults)
	if err == nil || !strings.Contains(err.Error(), "no samples of istio_requests_total{reporter=\"destination\"}") {
		t.Errorf("default names on a renamed recording: %v", err)
	}
}

func describe(actions []incident.Action) []string {
	var out []string
	for _, a := range actions {
		out = append(out, a.At.UTC().Format("15:04:05")+" "+a.Summary())
	}
	return out
}

// TestReplayWorkloads: Options.Workloads is told the workloads the
// recording names, in its metrics and as Deployments, before the first
// poll; its error ends the replay with no action reported.
func TestReplayWorkloads(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "kubectl-set-image")
	var got []string
	stop := errors.New("stop")
	var c notify.Collect
	res, err := simulate.Replay(t.Context(), dir, config.Default(), &c, simulate.Options{Workloads: func(ws []workload.Ref) error {
		for _, w := range ws {
			got = append(got, w.String())
		}
		return stop
	}})
	if !errors.Is(err, stop) || res.Polls != 0 || len(c.Actions) != 0 {
		t.Errorf("error %v after %d polls and %d actions; want the callback's, before any", err, res.Polls, len(c.Actions))
	}
	if diff := cmp.Diff([]string{"shop/cart", "shop/web"}, got); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
}
