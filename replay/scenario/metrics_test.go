package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/workload"
)

// base is 2026-03-10T09:00:00Z; test times are seconds after it.
var base = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

// istio is one istio_requests_total label set.
type istio struct{ ns, wl, pod, rep, code string }

func dst(wl, pod, code string) istio { return istio{"shop", wl, pod, "destination", code} }

func (s istio) labels() string {
	var b strings.Builder
	b.WriteString("istio_requests_total{")
	sep := ""
	for _, kv := range [][2]string{
		{"destination_workload", s.wl}, {"destination_workload_namespace", s.ns},
		{"pod", s.pod}, {"reporter", s.rep}, {"response_code", s.code},
	} {
		if kv[1] == "" {
			continue
		}
		fmt.Fprintf(&b, `%s%s=%q`, sep, kv[0], kv[1])
		sep = ","
	}
	b.WriteString("}")
	return b.String()
}

// at is one sample line at base+sec.
func (s istio) at(sec int, v float64) string {
	return fmt.Sprintf("%s %v %d", s.labels(), v, base.Unix()+int64(sec))
}

// run is a sample line every 15 s from..to (inclusive) of a counter that
// starts at v0 and grows by step per scrape.
func (s istio) run(from, to int, v0, step float64) []string {
	var out []string
	for t, v := from, v0; t <= to; t, v = t+15, v+step {
		out = append(out, s.at(t, v))
	}
	return out
}

const header = "# HELP istio_requests Total requests.\n# TYPE istio_requests counter\n"

// om assembles an OpenMetrics text: header, the lines given, # EOF.
func om(parts ...any) string {
	var b strings.Builder
	b.WriteString(header)
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			b.WriteString(p + "\n")
		case []string:
			for _, l := range p {
				b.WriteString(l + "\n")
			}
		default:
			panic(fmt.Sprintf("om: %T", p))
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

// options reads with the default configuration's names, failure codes
// and window.
func options(t testing.TB) Options {
	t.Helper()
	re, err := config.CompileCodes("5..")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Names: DefaultNames(), FailureCodes: re, Window: time.Minute}
}

func read(t testing.TB, text string) *Metrics {
	t.Helper()
	m, err := ReadMetrics(strings.NewReader(text), "test.om", options(t))
	if err != nil {
		t.Fatalf("ReadMetrics: %v", err)
	}
	return m
}

// rates is what Observe should say for one workload, in increase over the
// 1m window (the test divides by 60).
type rates struct{ requests, failures float64 }

func observe(t *testing.T, m *Metrics, when time.Time) map[string]detector.Observation {
	t.Helper()
	obs, err := m.Observe(t.Context(), when)
	if err != nil {
		t.Fatalf("Observe(%s): %v", when, err)
	}
	out := map[string]detector.Observation{}
	for _, o := range obs {
		if _, dup := out[o.Workload.String()]; dup {
			t.Errorf("Observe(%s): %s twice", when, o.Workload)
		}
		if o.Requests < 0 || o.Failures < 0 || o.Failures > o.Requests*(1+1e-9) {
			t.Errorf("Observe(%s): %s impossible rates: requests %v/s failures %v/s", when, o.Workload, o.Requests, o.Failures)
		}
		out[o.Workload.String()] = o
	}
	return out
}

func TestObserve(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		at   int
		// want maps workload to increases over the 1m window ending at at;
		// a workload not listed must be absent (unknown).
		want map[string]rates
	}{
		{
			// Each series grows steadily with samples at 75,90,105,120 in
			// (60,120]: increase = per-scrape step * 4 (extrapolated 15 s
			// to the start, PromQL-style). 200: 10*4=40, 404: 5*4=20,
			// 503: 1*4=4. Failures are 503 only: 4 of 64.
			name: "4xx are not failures",
			text: om(
				dst("cart", "cart-a", "200").run(0, 120, 0, 10),
				dst("cart", "cart-a", "404").run(0, 120, 0, 5),
				dst("cart", "cart-a", "503").run(0, 120, 0, 1),
			),
			at:   120,
			want: map[string]rates{"shop/cart": {64, 4}},
		},
		{
			// The source-side sidecar's series (all 500s, and a workload
			// only a client sees) change nothing: 200: 40, 500: 4.
			name: "reporter=source ignored",
			text: om(
				dst("cart", "cart-a", "200").run(0, 120, 0, 10),
				dst("cart", "cart-a", "500").run(0, 120, 0, 1),
				istio{"shop", "cart", "front-a", "source", "500"}.run(0, 120, 0, 1000),
				istio{"shop", "ghost", "front-a", "source", "200"}.run(0, 120, 0, 1000),
			),
			at:   120,
			want: map[string]rates{"shop/cart": {44, 4}},
		},
		{
			// The old pod serves 200s until 90 (75:50 90:60): result=10,
			// sampled=15, toStart=15, toEnd=30 → 7.5, 10*37.5/15 = 25.
			// The new pod's first scrape at 105 already reads 300 OK and
			// 30 failed (served before it was first scraped), then 309 and
			// 31 at 120: toStart=45 → 7.5, 9*22.5/15 = 13.5 and
			// 1*22.5/15 = 1.5. Total 25+13.5+1.5 = 40, failures 1.5: the 30
			// already on the counter are not failures seen in the window.
			name: "pod churn",
			text: om(
				dst("cart", "cart-old", "200").run(0, 90, 0, 10),
				dst("cart", "cart-new", "200").at(105, 300),
				dst("cart", "cart-new", "200").at(120, 309),
				dst("cart", "cart-new", "500").at(105, 30),
				dst("cart", "cart-new", "500").at(120, 31),
			),
			at:   120,
			want: map[string]rates{"shop/cart": {40, 1.5}},
		},
		{
			// The container restarts between 90 and 105 (same pod, same
			// series). 200: 75:100 90:110 105:3 120:13, result = 13-100+110
			// = 23, 23*60/45. 500: 75:10 90:11 105:0 120:1, result = 2,
			// 2*60/45.
			name: "counter reset",
			text: om(
				dst("cart", "cart-a", "200").at(75, 100), dst("cart", "cart-a", "200").at(90, 110),
				dst("cart", "cart-a", "200").at(105, 3), dst("cart", "cart-a", "200").at(120, 13),
				dst("cart", "cart-a", "500").at(75, 10), dst("cart", "cart-a", "500").at(90, 11),
				dst("cart", "cart-a", "500").at(105, 0), dst("cart", "cart-a", "500").at(120, 1),
			),
			at:   120,
			want: map[string]rates{"shop/cart": {25 * 60.0 / 45, 2 * 60.0 / 45}},
		},
		{
			// web's metrics stop at 30: at 120 it is unknown, not idle.
			name: "gap leaves workload out",
			text: om(
				dst("cart", "cart-a", "200").run(0, 120, 0, 10),
				dst("web", "web-a", "200").run(0, 30, 0, 10),
			),
			at:   120,
			want: map[string]rates{"shop/cart": {40, 0}},
		},
		{
			// One sample per series in (60,120]: unknown.
			name: "one sample in window is unknown",
			text: om(
				dst("cart", "cart-a", "200").at(45, 10),
				dst("cart", "cart-a", "200").at(105, 20),
			),
			at:   120,
			want: map[string]rates{},
		},
		{
			name: "before the recording",
			text: om(dst("cart", "cart-a", "200").run(0, 120, 0, 10)),
			at:   -600,
			want: map[string]rates{},
		},
		{
			// Lines in reverse time order give the same answer as sorted.
			name: "out of order",
			text: om(reverse(dst("cart", "cart-a", "200").run(0, 120, 0, 10)),
				reverse(dst("cart", "cart-a", "503").run(0, 120, 0, 1))),
			at:   120,
			want: map[string]rates{"shop/cart": {44, 4}},
		},
		{
			// Series of different workloads and namespaces are not mixed.
			name: "workloads kept apart",
			text: om(
				dst("cart", "cart-a", "500").run(0, 120, 0, 10),
				dst("web", "web-a", "200").run(0, 120, 0, 10),
				istio{"other", "cart", "cart-x", "destination", "200"}.run(0, 120, 0, 1),
			),
			at: 120,
			want: map[string]rates{
				"shop/cart":  {40, 40},
				"shop/web":   {40, 0},
				"other/cart": {4, 0},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := read(t, tc.text)
			got := observe(t, m, at(tc.at))
			for w, want := range tc.want {
				o, ok := got[w]
				if !ok {
					t.Errorf("%s missing from Observe", w)
					continue
				}
				if !near(o.Requests, want.requests/60) || !near(o.Failures, want.failures/60) {
					t.Errorf("%s: requests %v/s failures %v/s, want %v/s %v/s",
						w, o.Requests, o.Failures, want.requests/60, want.failures/60)
				}
			}
			for w, o := range got {
				if _, ok := tc.want[w]; !ok {
					t.Errorf("%s should be unknown, got requests %v/s failures %v/s", w, o.Requests, o.Failures)
				}
			}
		})
	}
}

func reverse(l []string) []string {
	out := make([]string, len(l))
	for i, x := range l {
		out[len(l)-1-i] = x
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestReadMetricsSkipsMalformedSamples(t *testing.T) {
	good := dst("cart", "cart-a", "200")
	text := om(
		good.at(60, 0),
		good.labels()+" NaN 1773133275",  // NaN value
		good.labels()+" -1 1773133280",   // negative counter
		good.labels()+" +Inf 1773133285", // infinite counter
		good.labels()+" 5",               // no timestamp
		good.at(90, 20),
		good.at(90, 21),                                                  // same time again
		istio{"shop", "", "p", "destination", "200"}.at(60, 1),           // no workload
		istio{"", "cart", "p", "destination", "200"}.at(60, 1),           // no namespace
		istio{"unknown", "unknown", "p", "destination", "200"}.at(60, 1), // Istio's "unknown"
		`process_cpu_seconds_total 1 1773133260`,                         // another metric
		good.at(120, 40),
	)
	m := read(t, text)
	want := map[string]int{SkipBadValue: 3, SkipNoTimestamp: 1, SkipNoWorkload: 3, SkipDuplicate: 1}
	if diff := cmp.Diff(want, m.Skipped); diff != "" {
		t.Errorf("Skipped (-want +got):\n%s", diff)
	}
	if m.Samples != 3 {
		t.Errorf("Samples = %d, want 3", m.Samples)
	}
	if !m.First.Equal(at(60)) || !m.Last.Equal(at(120)) {
		t.Errorf("First, Last = %s, %s, want %s, %s", m.First, m.Last, at(60), at(120))
	}
	if diff := cmp.Diff([]workload.Ref{{Namespace: "shop", Name: "cart"}}, m.Workloads()); diff != "" {
		t.Errorf("Workloads (-want +got):\n%s", diff)
	}
	// The good samples still make a series: 60:0 90:20 120:40 in (60,120]
	// is 90:20 120:20+20, result=20 sampled=30 avg=30 toStart=30 (<33),
	// toZero=30*20/20=30; 20*60/30 = 40.
	got := observe(t, m, at(120))
	if o := got["shop/cart"]; !near(o.Requests, 40.0/60) {
		t.Errorf("shop/cart requests = %v/s, want %v/s", o.Requests, 40.0/60)
	}
}

// TestReadMetricsSkippedNoWorkloadCountsSamples: Skipped is documented as
// counting skipped samples by reason, like no_timestamp and bad_value do.
// A series without workload labels is counted once, however many samples
// it has. (Bug report: see the report of the test author.)
func TestReadMetricsSkippedNoWorkloadCountsSamples(t *testing.T) {
	m := read(t, om(istio{"shop", "", "p", "destination", "200"}.run(0, 45, 0, 1)))
	if got := m.Skipped[SkipNoWorkload]; got != 4 {
		t.Errorf("Skipped[%s] = %d for 4 samples, want 4", SkipNoWorkload, got)
	}
}

// TestReadMetricsLabelOrder: the same series written with its labels in
// another order is the same series to Prometheus (promtool backfills it as
// one). Keyed by raw text it becomes two, each with half the samples, and
// their extrapolated increases add up to about twice the traffic.
func TestReadMetricsLabelOrder(t *testing.T) {
	a := `istio_requests_total{destination_workload="cart",destination_workload_namespace="shop",reporter="destination",response_code="200"}`
	b := `istio_requests_total{reporter="destination",response_code="200",destination_workload_namespace="shop",destination_workload="cart"}`
	var lines []string
	for i, t := 0, 0; t <= 120; i, t = i+1, t+15 {
		l := a
		if i%2 == 1 {
			l = b
		}
		lines = append(lines, fmt.Sprintf("%s %d %d", l, 10*i, base.Unix()+int64(t)))
	}
	m := read(t, om(lines))
	// One series, 10 per 15 s: 40 over the 1m window.
	if o := observe(t, m, at(120))["shop/cart"]; !near(o.Requests, 40.0/60) {
		t.Errorf("shop/cart requests = %v/s (%v per minute), want %v/s", o.Requests, o.Requests*60, 40.0/60)
	}
}

func TestReadMetricsErrors(t *testing.T) {
	ok := dst("cart", "cart-a", "200")
	long := istio{"shop", "cart", strings.Repeat("p", 100<<10), "destination", "200"} // > bufio's 64 KiB
	for _, tc := range []struct {
		name, text string
		want       string // prefix of the error, naming file and line
	}{
		{
			name: "label syntax",
			text: header + ok.at(0, 1) + "\n" + `istio_requests_total{reporter="destination" 1 1773133215` + "\n# EOF\n",
			want: "test.om:4: ",
		},
		{
			name: "value syntax",
			text: header + ok.at(0, 1) + "\n" + ok.at(15, 2) + "\n" + ok.labels() + " one 1773133230\n# EOF\n",
			want: "test.om:5: ",
		},
		{
			name: "unknown type",
			text: header + ok.at(0, 1) + "\n# TYPE foo nonsense\n# EOF\n",
			want: "test.om:4: ",
		},
		{
			name: "blank line",
			text: header + ok.at(0, 1) + "\n\n" + ok.at(15, 2) + "\n# EOF\n",
			want: "test.om:4: ",
		},
		{
			name: "data after EOF",
			text: header + ok.at(0, 1) + "\n# EOF\n" + ok.at(15, 2) + "\n",
			want: "test.om:4: ",
		},
		{
			name: "after a line longer than the read buffer",
			text: header + long.at(0, 1) + "\n" + long.at(15, 2) + "\n" + "istio_requests_total{ 1\n# EOF\n",
			want: "test.om:5: ",
		},
		{
			// Truncated: the error names the line where "# EOF" should be.
			name: "truncated",
			text: header + ok.at(0, 1) + "\n" + ok.at(15, 2) + "\n",
			want: "test.om:5: truncated",
		},
		{
			name: "truncated mid-line",
			text: header + ok.at(0, 1) + "\n" + ok.labels() + " 2",
			want: "test.om:4: ",
		},
		{
			name: "empty",
			text: "",
			want: "test.om: empty (0 bytes); sentinel reads OpenMetrics text: ",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadMetrics(strings.NewReader(tc.text), "test.om", options(t))
			if err == nil {
				t.Fatalf("no error, read %d samples", m.Samples)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestReadMetricsAcceptsEOFWithoutNewline(t *testing.T) {
	text := strings.TrimSuffix(om(dst("cart", "cart-a", "200").run(0, 30, 0, 1)), "\n")
	if m := read(t, text); m.Samples != 3 {
		t.Errorf("Samples = %d, want 3", m.Samples)
	}
}

type failingReader struct{ r io.Reader }

var errDisk = errors.New("disk on fire")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errDisk
	}
	return n, err
}

func TestReadMetricsReadError(t *testing.T) {
	_, err := ReadMetrics(failingReader{strings.NewReader(header)}, "test.om", options(t))
	if !errors.Is(err, errDisk) || !strings.HasPrefix(err.Error(), "test.om: ") {
		t.Errorf("error %v, want test.om: …: %v", err, errDisk)
	}
}

// bigRecording writes OpenMetrics text of more than two chunks: n samples
// of two series of one workload, 15 s apart, so each series is a steady
// counter. Every line of the body is a sample; line i+3 is sample i.
func bigRecording(n int) *bytes.Buffer {
	var b bytes.Buffer
	b.Grow(n * 200)
	b.WriteString(header)
	ok := dst("cart", "cart-"+strings.Repeat("x", 60), "200")
	bad := dst("cart", "cart-"+strings.Repeat("x", 60), "503")
	for i := range n {
		s, v := ok, 9*(i/2)
		if i%2 == 1 {
			s, v = bad, i/2
		}
		fmt.Fprintf(&b, "%s %d %d\n", s.labels(), v, base.Unix()+int64(15*(i/2)))
	}
	return &b
}

func TestReadMetricsLargerThanAChunk(t *testing.T) {
	const n = 120_000
	b := bigRecording(n)
	body := b.Len()
	b.WriteString("# EOF\n")
	if body < 2*defaultChunkSize {
		t.Fatalf("test input is %d bytes, want more than two chunks (%d)", body, 2*defaultChunkSize)
	}
	m, err := ReadMetrics(bytes.NewReader(b.Bytes()), "big.om", options(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Samples != n || len(m.Skipped) != 0 {
		t.Errorf("Samples = %d Skipped = %v, want %d and none", m.Samples, m.Skipped, n)
	}
	last := at(15 * (n/2 - 1))
	if !m.First.Equal(base) || !m.Last.Equal(last) {
		t.Errorf("First, Last = %s, %s, want %s, %s", m.First, m.Last, base, last)
	}
	// Steady 9 OK + 1 failed per scrape: 40 per minute, 4 failed.
	for _, sec := range []int{120, 15 * (n / 4), 15 * (n/2 - 1)} {
		o := observe(t, m, at(sec))["shop/cart"]
		type rates struct{ Requests, Failures float64 }
		if diff := cmp.Diff(rates{40.0 / 60, 4.0 / 60}, rates{o.Requests, o.Failures}, cmpopts.EquateApprox(1e-9, 0)); diff != "" {
			t.Errorf("at %d s: rates per second (-want +got):\n%s", sec, diff)
		}
	}

	// A syntax error well past the first chunk names its own line.
	for _, sample := range []int{n/2 + 17, n - 1} {
		lines := bytes.SplitAfter(bigRecording(n).Bytes(), []byte("\n"))
		lineNo := sample + 3
		lines[lineNo-1] = []byte("istio_requests_total{reporter=destination} 1 2\n")
		text := append(bytes.Join(lines, nil), "# EOF\n"...)
		_, err = ReadMetrics(bytes.NewReader(text), "big.om", options(t))
		if want := fmt.Sprintf("big.om:%d: ", lineNo); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error at line %d: got %v, want prefix %q", lineNo, err, want)
		}
	}

	// Truncated after the first chunk.
	_, err = ReadMetrics(bytes.NewReader(bigRecording(n).Bytes()), "big.om", options(t))
	if want := fmt.Sprintf("big.om:%d: truncated", n+3); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("truncated: got %v, want prefix %q", err, want)
	}
}

// TestReadMetricsEOFAtChunkBoundary: a valid file whose last line, "# EOF",
// is the one that fills a chunk. The reader then takes the chunk for an
// inner one, appends its own "# EOF" and fails on the valid file with
// "unexpected data after # EOF". (Bug report: see the test author's report.)
func TestReadMetricsEOFAtChunkBoundary(t *testing.T) {
	line := dst("cart", "cart-b", "200").at(0, 1) + "\n"
	// The first chunk of a long file ends after the line that reaches
	// defaultChunkSize.
	firstChunk := len(header) + (defaultChunkSize-len(header)+len(line)-1)/len(line)*len(line)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"one chunk, exactly defaultChunkSize", defaultChunkSize},
		{"one chunk, EOF line crosses defaultChunkSize", defaultChunkSize + 3},
		{"second chunk, exactly defaultChunkSize", firstChunk + defaultChunkSize},
		{"second chunk, EOF line crosses defaultChunkSize", firstChunk + defaultChunkSize + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			b.WriteString(header)
			for b.Len() < tc.size-6-2*len(line) {
				b.WriteString(line)
			}
			// Pad with a HELP line so that the body ends 6 bytes ("# EOF\n")
			// short of size.
			pad := tc.size - 6 - b.Len() - len("# HELP pad \n")
			b.WriteString("# HELP pad " + strings.Repeat("x", pad) + "\n")
			b.WriteString("# EOF\n")
			if b.Len() != tc.size {
				t.Fatalf("built %d bytes, want %d", b.Len(), tc.size)
			}
			if _, err := ReadMetrics(bytes.NewReader(b.Bytes()), "edge.om", options(t)); err != nil {
				t.Errorf("valid %d-byte file: %v", tc.size, err)
			}
		})
	}
	// Control: one byte shorter, the same files are read.
	var b bytes.Buffer
	b.WriteString(header)
	for b.Len() < defaultChunkSize-6-2*len(line) {
		b.WriteString(line)
	}
	b.WriteString("# HELP pad " + strings.Repeat("x", defaultChunkSize-7-b.Len()-len("# HELP pad \n")) + "\n# EOF\n")
	if _, err := ReadMetrics(bytes.NewReader(b.Bytes()), "edge.om", options(t)); err != nil {
		t.Errorf("valid %d-byte file: %v", b.Len(), err)
	}
}

const scenario = "../../../shared/scenarios/kubectl-set-image/"

func TestReadMetricsScenario(t *testing.T) {
	path := scenario + "metrics.om"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("worked example absent: %v", err)
	}
	m, err := ReadMetricsFile(path, options(t))
	if err != nil {
		t.Fatal(err)
	}
	// 7186 samples, half of them reporter="source".
	if m.Samples != 3593 || len(m.Skipped) != 0 {
		t.Errorf("Samples = %d Skipped = %v, want 3593 and none", m.Samples, m.Skipped)
	}
	if got := fmt.Sprint(m.Workloads()); got != "[shop/cart shop/web]" {
		t.Errorf("Workloads = %s", got)
	}
	if want := time.Date(2026, 3, 10, 10, 30, 0, 0, time.UTC); !m.Last.Equal(want) {
		t.Errorf("Last = %s, want %s", m.Last, want)
	}
	ratio := func(when time.Time, w string) float64 {
		o, ok := observe(t, m, when)[w]
		if !ok {
			t.Fatalf("%s unknown at %s", w, when)
		}
		if o.Requests <= 0 {
			t.Fatalf("%s has no traffic at %s", w, when)
		}
		return o.Ratio()
	}
	during := time.Date(2026, 3, 10, 9, 47, 0, 0, time.UTC)
	if r := ratio(during, "shop/cart"); math.Abs(r-0.9) > 0.05 {
		t.Errorf("shop/cart ratio at %s = %.3f, want ~0.9", during, r)
	}
	for when := m.First.Add(time.Minute); !when.After(m.Last); when = when.Add(15 * time.Second) {
		if r := ratio(when, "shop/web"); r > 0.05 {
			t.Errorf("shop/web ratio at %s = %.3f, want low", when, r)
		}
	}
}

// TestObserveCounterOverflow: counter values near math.MaxFloat64 with
// resets make the per-series increase +Inf; +Inf requests and +Inf
// failures give a NaN ratio, which no threshold comparison catches (NaN >
// threshold is false: "healthy"). Such a workload should be unknown.
// (Bug report: see the test author's report.)
func TestObserveCounterOverflow(t *testing.T) {
	var lines []string
	for _, code := range []string{"200", "500"} {
		s := dst("cart", "cart-a", code)
		lines = append(lines, s.at(0, 1.7e308), s.at(15, 1), s.at(30, 1.7e308))
	}
	m := read(t, om(lines))
	for _, o := range observe(t, m, at(30)) {
		if r := o.Ratio(); math.IsNaN(r) || math.IsInf(o.Requests, 0) {
			t.Errorf("%s: requests %v failures %v ratio %v; want finite or unknown", o.Workload, o.Requests, o.Failures, r)
		}
	}
}
