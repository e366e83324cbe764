package prometheus

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"

	"github.com/sentinel-sre/sentinel/config"
)

func TestRawSelector(t *testing.T) {
	p := config.Default().Metrics.Prometheus
	tests := []struct {
		sel  Selection
		want string
	}{
		{Selection{}, `istio_requests_total{reporter="destination"}`},
		{Selection{Namespace: "shop"}, `istio_requests_total{reporter="destination", destination_workload_namespace="shop"}`},
		{Selection{Namespace: "shop", Workload: `we"b`}, `istio_requests_total{reporter="destination", destination_workload_namespace="shop", destination_workload="we\"b"}`},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, RawSelector(p, tt.sel)); diff != "" {
			t.Errorf("RawSelector(%+v) (-want +got):\n%s", tt.sel, diff)
		}
	}
}

func TestSeriesText(t *testing.T) {
	got := seriesText("istio_requests_total", model.Metric{"__name__": "istio_requests_total", "pod": "web-1",
		"path": "a\"b\\c\nd", "reporter": "destination"})
	want := `istio_requests_total{path="a\"b\\c\nd",pod="web-1",reporter="destination"}`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seriesText (-want +got):\n%s", diff)
	}
}
