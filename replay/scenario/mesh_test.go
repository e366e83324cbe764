package scenario

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sentinel-sre/sentinel/config"
)

// meshOptions reads as a replay under mesh's default configuration does.
func meshOptions(t *testing.T, mesh string) Options {
	t.Helper()
	cfg, ok := config.DefaultFor(mesh)
	if !ok {
		t.Fatalf("no mesh %q", mesh)
	}
	opts, err := OptionsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// steady is one sample run every 15 s from 0 to 120 of a counter growing
// by step a scrape, its series named by its labels in OpenMetrics text.
func steady(labels string, step float64) []string {
	var out []string
	for t, v := 0, 0.0; t <= 120; t, v = t+15, v+step {
		out = append(out, fmt.Sprintf("%s %v %d", labels, v, base.Unix()+int64(t)))
	}
	return out
}

// Each series grows by its step per scrape: four scrapes in the window
// ending at 120, so an increase of 4 × step, as in TestObserve.
func TestMeshFailureRules(t *testing.T) {
	istio := func(code, grpc string) string {
		l := `istio_requests_total{destination_workload="cart",destination_workload_namespace="shop",pod="cart-7d9f8b6c4-x2kq9",` +
			`pod_template_hash="7d9f8b6c4",reporter="%s",response_code="%s"`
		s := fmt.Sprintf(l, "destination", code)
		if grpc != "" {
			s += `,grpc_response_status="` + grpc + `"`
		}
		return s + "}"
	}
	linkerd := func(direction, class, status, grpc string) string {
		s := `response_total{classification="` + class + `",deployment="cart",direction="` + direction + `",namespace="shop",` +
			`pod="cart-7d9f8b6c4-x2kq9",pod_template_hash="7d9f8b6c4",status_code="` + status + `"`
		if grpc != "" {
			s += `,grpc_status="` + grpc + `"`
		}
		return s + "}"
	}
	waypoint := func(code string) string {
		return `istio_requests_total{destination_workload="cart",destination_workload_namespace="shop",` +
			`pod="waypoint-5d8c7b9f4-qwert",pod_template_hash="5d8c7b9f4",reporter="waypoint",response_code="` + code + `"}`
	}
	for _, tc := range []struct {
		name, mesh string
		lines      [][]string
		want       rates
		revisions  int
	}{{
		// 200 OK calls 10, UNAVAILABLE 5, NOT_FOUND 3, a 503 that is also
		// UNAVAILABLE 1 (counted once), INTERNAL as 500 2: failures 5+1+2.
		name: "gRPC server-side statuses fail whatever the HTTP status; client-side ones never",
		mesh: config.MeshIstio,
		lines: [][]string{steady(istio("200", "0"), 10), steady(istio("200", "14"), 5), steady(istio("200", "5"), 3),
			steady(istio("503", "14"), 1), steady(istio("500", "13"), 2), steady(istio("404", "7"), 1)},
		want: rates{4 * 22, 4 * 8}, revisions: 1,
	}, {
		// Inbound only; a failure is classification="failure" (a stream
		// error with 200 too), a 5xx, or a server-side gRPC status.
		name: "Linkerd's classification, status code and gRPC status",
		mesh: config.MeshLinkerd,
		lines: [][]string{steady(linkerd("inbound", "success", "200", ""), 10),
			steady(linkerd("inbound", "failure", "500", ""), 2),
			steady(linkerd("inbound", "failure", "200", ""), 1),
			steady(linkerd("inbound", "success", "200", "5"), 3),
			steady(linkerd("inbound", "failure", "200", "14"), 4),
			steady(linkerd("outbound", "failure", "500", ""), 100)},
		want: rates{4 * 20, 4 * 7}, revisions: 1,
	}, {
		// The waypoint's pod labels name no revision of cart.
		name:  "ambient: waypoint series judge the workload as a whole",
		mesh:  config.MeshIstioAmbient,
		lines: [][]string{steady(waypoint("200"), 10), steady(waypoint("503"), 10), steady(istio("200", ""), 1)},
		want:  rates{4 * 20, 4 * 10},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var parts []any
			for _, l := range tc.lines {
				parts = append(parts, l)
			}
			text := strings.Replace(om(parts...), "istio_requests counter", "istio_requests counter\n# TYPE response counter", 1)
			m, err := ReadMetrics(strings.NewReader(text), "test.om", meshOptions(t, tc.mesh))
			if err != nil {
				t.Fatal(err)
			}
			o, ok := observe(t, m, at(120))["shop/cart"]
			if !ok {
				t.Fatal("shop/cart not observed")
			}
			if !near(o.Requests*60, tc.want.requests) || !near(o.Failures*60, tc.want.failures) {
				t.Errorf("increases: requests %v failures %v, want %v and %v", o.Requests*60, o.Failures*60, tc.want.requests, tc.want.failures)
			}
			if len(o.Revisions) != tc.revisions {
				t.Errorf("%d revisions %v, want %d", len(o.Revisions), o.Revisions, tc.revisions)
			}
		})
	}
}

// Without grpc_failure_codes no gRPC status is judged: the replay counts
// as the query without its gRPC clause does.
func TestGRPCCodesOff(t *testing.T) {
	cfg := config.Default()
	cfg.Detection.GRPCFailureCodes = ""
	opts, err := OptionsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if opts.GRPCCodes != nil {
		t.Fatalf("gRPC codes %v, want none", opts.GRPCCodes)
	}
	line := `istio_requests_total{destination_workload="cart",destination_workload_namespace="shop",grpc_response_status="14",` +
		`reporter="destination",response_code="200"}`
	m, err := ReadMetrics(strings.NewReader(om(steady(line, 10))), "test.om", opts)
	if err != nil {
		t.Fatal(err)
	}
	if o := observe(t, m, at(120))["shop/cart"]; o.Failures != 0 || !near(o.Requests*60, 40) {
		t.Errorf("requests %v/s failures %v/s, want 40/60 and none", o.Requests, o.Failures)
	}
}
