package scenario

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
)

// TestReadMetricsLongLineAcrossChunks: a line longer than the read
// buffer that falls across a chunk boundary is one line, wherever the
// boundary cuts it: a chunk never ends inside a line, so a valid file
// neither fails with a syntax error nor loses the line.
func TestReadMetricsLongLineAcrossChunks(t *testing.T) {
	long := dst("cart", "cart-"+strings.Repeat("p", 3*readBufferSize), "200")
	short := dst("cart", "cart-a", "503")
	longLine := len(long.at(0, 1)) + 1
	for _, tc := range []struct {
		name  string
		chunk int
		// before is how many bytes precede the first long line.
		before func(chunk int) int
	}{
		{"boundary at the line's first byte", 256 << 10, func(c int) int { return c }},
		{"boundary one byte into the line", 256 << 10, func(c int) int { return c - 1 }},
		{"boundary mid-line", 256 << 10, func(c int) int { return c - longLine/2 }},
		{"boundary on the line's newline", 256 << 10, func(c int) int { return c - longLine + 1 }},
		{"boundary just after the line", 256 << 10, func(c int) int { return c - longLine }},
		{"the real chunk size, mid-line", defaultChunkSize, func(c int) int { return c - longLine/2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			b.WriteString(header)
			n := 0
			want := tc.before(tc.chunk)
			pad := short.at(0, 0) + "\n"
			for b.Len()+len(pad) <= want-len("# HELP x \n") {
				b.WriteString(short.at(15*n, float64(n)) + "\n")
				n++
			}
			b.WriteString("# HELP x " + strings.Repeat("x", want-b.Len()-len("# HELP x \n")) + "\n")
			if b.Len() != want {
				t.Fatalf("built %d bytes before the long line, want %d", b.Len(), want)
			}
			for i := range 4 {
				b.WriteString(long.at(15*i, float64(10*i)) + "\n")
			}
			b.WriteString("# EOF\n")
			m, err := ReadMetrics(bytes.NewReader(b.Bytes()), "long.om", withChunk(options(t), tc.chunk))
			if err != nil {
				t.Fatalf("valid file: %v", err)
			}
			if diff := cmp.Diff(n+4, m.Samples); diff != "" || len(m.Skipped) != 0 {
				t.Errorf("samples (-want +got):\n%s skipped %v", diff, m.Skipped)
			}
		})
	}
}

func withChunk(o Options, size int) Options { o.chunkSize = size; return o }

// TestReadMetricsBoundedTime: a replay polls from the first sample to the
// last, so a timestamp that cannot be right is an error naming its line.
func TestReadMetricsBoundedTime(t *testing.T) {
	ok := dst("cart", "cart-a", "200")
	body := ok.run(0, 120, 0, 10)                                                // lines 3-11
	withLine := func(line string) string { return om(body[:4], line, body[4:]) } // the line is line 7
	for _, tc := range []struct {
		name, text string
		want       string // the error, "" for none
	}{
		{"milliseconds", withLine(fmt.Sprintf("%s 5 %d", ok.labels(), base.Add(time.Minute).UnixMilli())),
			"test.om:7: timestamp 1773133260000 is in milliseconds: OpenMetrics timestamps are seconds since the epoch (2026-03-10T09:01:00Z)"},
		{"microseconds", withLine(fmt.Sprintf("%s 5 %d", ok.labels(), base.UnixMicro())),
			"test.om:7: timestamp 1773133200000000 is in microseconds: OpenMetrics timestamps are seconds since the epoch (2026-03-10T09:00:00Z)"},
		{"the epoch", withLine(ok.labels() + " 5 0"),
			"test.om:7: timestamp 0 is not a time between 2000 and 2100: OpenMetrics timestamps are seconds since the epoch"},
		{"negative", withLine(ok.labels() + " 5 -15"),
			"test.om:7: timestamp -15 is not a time between 2000 and 2100: OpenMetrics timestamps are seconds since the epoch"},
		{"a year early", withLine(ok.at(-365*24*3600, 5)),
			"test.om:7: sample far outside the recording's time range: 1 sample(s) at 2025-03-10T09:00:00Z, 365 days before the rest of the recording (9 samples, 2026-03-10T09:00:00Z to 2026-03-10T09:02:00Z): a recording's samples are never more than 24h0m0s apart; is the timestamp wrong?"},
		{"two days late", withLine(dst("web", "web-a", "200").at(2*24*3600, 5)),
			"test.om:7: sample far outside the recording's time range: 1 sample(s) at 2026-03-12T09:00:00Z, 47h58m0s after the rest of the recording (9 samples, 2026-03-10T09:00:00Z to 2026-03-10T09:02:00Z): a recording's samples are never more than 24h0m0s apart; is the timestamp wrong?"},
		{"a 23 h gap is a recording", withLine(dst("web", "web-a", "200").at(23*3600, 5)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadMetrics(strings.NewReader(tc.text), "test.om", options(t))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadMetricsOrder: a repeated timestamp is a duplicate (the first
// kept), a sample written after a later one is reordered (kept, counted),
// and neither is the other.
func TestReadMetricsOrder(t *testing.T) {
	s := dst("cart", "cart-a", "200")
	type counts struct {
		Samples, Reordered int
		Skipped            map[string]int
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  counts
	}{
		{"in order", s.run(0, 60, 0, 1), counts{5, 0, map[string]int{}}},
		{"duplicate", []string{s.at(0, 0), s.at(15, 1), s.at(15, 1), s.at(30, 2)},
			counts{3, 0, map[string]int{SkipDuplicate: 1}}},
		{"duplicate with another value", []string{s.at(0, 0), s.at(15, 1), s.at(15, 7), s.at(30, 2)},
			counts{3, 0, map[string]int{SkipDuplicate: 1}}},
		{"out of order", []string{s.at(0, 0), s.at(30, 2), s.at(15, 1), s.at(45, 3)},
			counts{4, 1, map[string]int{}}},
		{"reversed", reverse(s.run(0, 60, 0, 1)), counts{5, 4, map[string]int{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := read(t, om(tc.lines))
			got := counts{m.Samples, m.Reordered, m.Skipped}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
	// The first of two samples at one time is the one kept: 1 at 15 s,
	// so the increase in the window ending at 30 s is 2 (not 7 then a reset).
	m := read(t, om(s.at(0, 0), s.at(15, 1), s.at(15, 7), s.at(30, 2)))
	if got := observe(t, m, at(30))["shop/cart"].Requests * 60; !near(got, 2) {
		t.Errorf("increase over 30 s = %v, want 2", got)
	}
}

// TestReadMetricsNames: the replay reads the series the live query
// selects under metrics.prometheus, and only those.
func TestReadMetricsNames(t *testing.T) {
	custom := config.Default().Metrics.Prometheus
	custom.Metric, custom.NamespaceLabel, custom.WorkloadLabel, custom.CodeLabel = "mesh_requests_total", "ns", "app", "code"
	custom.ReporterSelector = `side=~"server|inbound"`
	var lines []string
	for i, side := range []string{"server", "inbound", "client"} {
		for _, code := range []string{"200", "500"} {
			for sec := 0; sec <= 60; sec += 15 {
				lines = append(lines, fmt.Sprintf(`mesh_requests_total{ns="shop",app="cart",code="%s",side="%s",pod="p%d"} %d %d`,
					code, side, i, sec, base.Unix()+int64(sec)))
			}
		}
	}
	text := om(lines, dst("cart", "cart-a", "200").run(0, 60, 0, 100))
	for _, tc := range []struct {
		name     string
		p        func() (Names, error)
		requests float64 // per second at 60 s
		failures float64
		ignored  int
	}{
		// Server and inbound, 200 and 500 each: 4 series of 1/s.
		{"custom names", func() (Names, error) { return NamesFor(custom) }, 4, 2, 15},
		// Only the istio_requests_total series: 100 per 15 s.
		{"default names", func() (Names, error) { return NamesFor(config.Default().Metrics.Prometheus) }, 100.0 / 15, 0, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, err := tc.p()
			if err != nil {
				t.Fatal(err)
			}
			o := options(t)
			o.Names = names
			m, err := ReadMetrics(strings.NewReader(text), "test.om", o)
			if err != nil {
				t.Fatal(err)
			}
			got := observe(t, m, at(60))["shop/cart"]
			if !near(got.Requests, tc.requests) || !near(got.Failures, tc.failures) || m.Ignored != tc.ignored {
				t.Errorf("requests %v/s failures %v/s ignored %d, want %v/s %v/s %d",
					got.Requests, got.Failures, m.Ignored, tc.requests, tc.failures, tc.ignored)
			}
		})
	}
}

func TestNames(t *testing.T) {
	got, err := NamesFor(config.Default().Metrics.Prometheus)
	if err != nil {
		t.Fatal(err)
	}
	str := cmp.Transformer("matcher", func(m fmt.Stringer) string { return m.String() })
	if diff := cmp.Diff(DefaultNames(), got, str); diff != "" {
		t.Errorf("DefaultNames differ from the default configuration's (-want +got):\n%s", diff)
	}
	if s := got.String(); s != `istio_requests_total{reporter="destination"}` {
		t.Errorf("String() = %s", s)
	}
	bad := config.Default().Metrics.Prometheus
	bad.ReporterSelector = `reporter=destination`
	if _, err := NamesFor(bad); err == nil || !strings.HasPrefix(err.Error(), `metrics.prometheus: series selector "istio_requests_total{reporter=destination}": `) {
		t.Errorf("bad selector: error %v", err)
	}
}
