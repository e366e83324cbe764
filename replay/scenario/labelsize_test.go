package scenario

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadMetricsLabelSize: Prometheus's labels hold a name or value of
// at most 16 MiB less one byte. A longer one panicked the replay (in a
// parser goroutine, so nothing could recover) and one of exactly 16 MiB
// was stored as empty, losing its series; both are now an error naming
// the line. The length that counts is the unescaped one.
func TestReadMetricsLabelSize(t *testing.T) {
	const max = MaxLabelBytes
	// pod is a pod label value of n bytes: cart-aaa…a-x.
	pod := func(n int) string { return "cart-" + strings.Repeat("a", n-7) + "-x" }
	// line is a sample of a series at base+sec.
	line := func(series string, sec int) string {
		return fmt.Sprintf("%s %d %d", series, sec, base.Unix()+int64(sec))
	}
	cart := func(pod string) string {
		return `istio_requests_total{destination_workload="cart",destination_workload_namespace="shop",pod="` + pod +
			`",reporter="destination",response_code="200"}`
	}
	short := line(cart("cart-b-1"), 0)
	tooLong := func(what string, n int) string {
		return fmt.Sprintf("test.om:4: %s is %d bytes long: a metric name, label name or label value can be at most "+
			"16777215 bytes (16 MiB less one byte), as Prometheus stores labels", what, n)
	}
	for _, tc := range []struct {
		name string
		long string // the series of line 4
		// want is the error; "" for none, the long series then read with
		// its pod label's revision of revLen bytes.
		want   string
		revLen int
	}{
		{"a value of 16 MiB less one byte", cart(pod(max)), "", max - 2},
		{"a value of exactly 16 MiB", cart(pod(max + 1)), tooLong("the value of label pod", max+1), 0},
		{"the last value of exactly 16 MiB", `istio_requests_total{destination_workload="cart",destination_workload_namespace="shop",` +
			`pod="cart-b-2",reporter="destination",response_code="` + strings.Repeat("5", max+1) + `"}`,
			tooLong("the value of label response_code", max+1), 0},
		{"a value over 16 MiB", cart(pod(max + 2)), tooLong("the value of label pod", max+2), 0},
		{"a value of 16 MiB once unescaped", cart(`\\` + pod(max)), tooLong("the value of label pod", max+1), 0},
		{"a value of 16 MiB less one once unescaped", cart(`\"\n` + pod(max-2)), "", max - 2},
		{"an unknown escape is kept as two bytes", cart(`\t` + pod(max-1)), tooLong("the value of label pod", max+1), 0},
		{"two values of 9 MiB", `istio_requests_total{destination_workload="` + strings.Repeat("c", 9<<20) +
			`",destination_workload_namespace="shop",pod="` + pod(9<<20) + `",reporter="destination",response_code="200"}`,
			"", 9<<20 - 2},
		{"a label name of 16 MiB", `istio_requests_total{` + strings.Repeat("l", max+1) + `="x",reporter="destination"}`,
			tooLong("a label name ("+strings.Repeat("l", 40)+"…)", max+1), 0},
		{"a quoted label name of 16 MiB", `istio_requests_total{"` + strings.Repeat("l", max+1) + `"="x",reporter="destination"}`,
			tooLong(`a label name ("`+strings.Repeat("l", 39)+"…)", max+1), 0},
		{"a metric name of 16 MiB", strings.Repeat("m", max+1) + `{reporter="destination"}`, tooLong("the metric name", max+1), 0},
		{"a quoted metric name of 16 MiB", `{"` + strings.Repeat("m", max+1) + `",reporter="destination"}`,
			tooLong("the metric name", max+1), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := om(short, line(tc.long, 15), line(cart("cart-b-1"), 30))
			for _, chunk := range []int{0, 1 << 20} { // the long line within a chunk, or across several
				m, err := ReadMetrics(strings.NewReader(text), "test.om", withChunk(options(t), chunk))
				if tc.want != "" {
					if err == nil {
						t.Fatalf("chunk %d: read, want an error", chunk)
					}
					if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
						t.Fatalf("chunk %d: error (-want +got):\n%s", chunk, diff)
					}
					continue
				}
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if m.Samples != 3 || len(m.Skipped) != 0 || m.Ignored != 0 {
					t.Errorf("chunk %d: %d samples, skipped %v, ignored %d; want the 3 samples", chunk, m.Samples, m.Skipped, m.Ignored)
				}
				var revs []int
				for _, ws := range m.workloads {
					for _, r := range ws.revisions {
						revs = append(revs, len(r))
					}
				}
				if want := []int{6, tc.revLen}; !cmp.Equal(want, revs) && !cmp.Equal([]int{tc.revLen, 6}, revs) {
					t.Errorf("chunk %d: revisions of %v bytes, want %v", chunk, revs, want)
				}
			}
		})
	}
}
