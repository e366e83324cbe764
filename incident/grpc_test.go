package incident

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/rollback"
)

func TestGRPCStatusName(t *testing.T) {
	for status, want := range map[string]string{"0": "OK", "2": "UNKNOWN", "4": "DEADLINE_EXCEEDED", "5": "NOT_FOUND",
		"13": "INTERNAL", "14": "UNAVAILABLE", "15": "DATA_LOSS", "16": "UNAUTHENTICATED",
		"17": "17", "-1": "-1", "Unknown error": "Unknown error"} {
		if got := GRPCStatusName(status); got != want {
			t.Errorf("GRPCStatusName(%q) = %q, want %q", status, got, want)
		}
	}
}

// A page says what failed: the gRPC status where calls failed with one,
// the response codes' word for the rest, each kind that makes up a tenth
// of the failures, most first.
func TestPageSaysWhichGRPCStatusFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		by   []detector.Failure
		want string
		as   []string
	}{
		{"no gRPC status", nil, "5xx", nil},
		{"UNAVAILABLE", []detector.Failure{{GRPC: "14", Rate: 30}}, "gRPC UNAVAILABLE", []string{"gRPC UNAVAILABLE"}},
		{"UNAVAILABLE and a little INTERNAL", []detector.Failure{{GRPC: "13", Rate: 1}, {GRPC: "14", Rate: 30}},
			"gRPC UNAVAILABLE", []string{"gRPC UNAVAILABLE"}},
		{"mostly 503s, some DEADLINE_EXCEEDED", []detector.Failure{{GRPC: "4", Rate: 5}, {Rate: 20}},
			"5xx, gRPC DEADLINE_EXCEEDED", []string{"5xx", "gRPC DEADLINE_EXCEEDED"}},
		{"three kinds", []detector.Failure{{GRPC: "13", Rate: 10}, {GRPC: "14", Rate: 10}, {Rate: 10}},
			"gRPC INTERNAL, gRPC UNAVAILABLE, 5xx", []string{"gRPC INTERNAL", "gRPC UNAVAILABLE", "5xx"}},
		{"a status no number names", []detector.Failure{{GRPC: "Unknown error", Rate: 3}}, "gRPC Unknown error",
			[]string{"gRPC Unknown error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := page(rollback.Decision{Reason: rollback.ReasonNoLinkedChange}, nil)
			a.FailedBy = tc.by
			want := "scale-deploy/model-engine: 97% of requests failing (" + tc.want + ") since 23:50:20; not rolled back"
			if got := a.Summary(); !strings.HasPrefix(got, want) {
				t.Errorf("summary %q, want it to begin %q", got, want)
			}
			var d struct {
				FailingAs []string `json:"failing_as"`
			}
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.as, d.FailingAs); diff != "" {
				t.Errorf("failing_as (-want +got):\n%s", diff)
			}
			r := Action{Kind: Resolve, Workload: me, Ratio: 0.004, Requests: 39.5, FailureCodes: "5..", FailedBy: tc.by}
			if got, want := r.Summary(), "resolved, 0.4% of requests failing ("+tc.want+") at 39.5 req/s"; !strings.HasSuffix(got, want) {
				t.Errorf("resolve %q, want it to end %q", got, want)
			}
		})
	}
}
