package scenario

import (
	"bytes"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/source"
)

var (
	errLine   = regexp.MustCompile(`^fuzz\.[a-z]+:(\d+): `)
	fileError = regexp.MustCompile(`^fuzz\.[a-z]+: [^:]+; sentinel reads `)
)

// checkErrLine checks that an error names the file and a line that exists
// (or the one just past the end, where a missing "# EOF" belongs). YAML
// also counts a lone carriage return as a line break (yamlLines).
func checkErrLine(t *testing.T, err error, data []byte, yamlLines bool) {
	t.Helper()
	// A file that is not text, or an empty metrics file, is named for what
	// it is, and no line.
	if what, _ := notText(data[:min(len(data), sniffLen)]); what != "" || len(data) == 0 && !yamlLines {
		if !fileError.MatchString(err.Error()) {
			t.Fatalf("error %q does not say what the file is", err)
		}
		return
	}
	m := errLine.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error %q does not name file:line", err)
	}
	n, _ := strconv.Atoi(m[1])
	lines := bytes.Count(data, []byte("\n")) + 1
	if yamlLines {
		lines += bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n"))
	}
	if n < 1 || n > lines+1 {
		t.Fatalf("error %q names line %d of a %d-line input", err, n, lines)
	}
}

var skipReasons = []string{SkipNoTimestamp, SkipBadValue, SkipNoWorkload, SkipDuplicate, SkipNotSupported}

// FuzzReadMetrics: any input is either read or rejected with an error
// naming file:line, never a panic; what is read is consistent, and
// Observe's answers are rates a detector can use.
func FuzzReadMetrics(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzReadMetrics.
	f.Add([]byte(om(dst("cart", "cart-a", "200").run(0, 120, 0, 10), dst("cart", "cart-a", "500").run(0, 120, 0, 1))))
	opts := options(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMetrics(bytes.NewReader(data), "fuzz.om", opts)
		if err != nil {
			if m != nil {
				t.Fatalf("metrics returned with error %v", err)
			}
			checkErrLine(t, err, data, false)
			return
		}
		if !bytes.Contains(data, []byte("# EOF")) {
			t.Fatalf("input without # EOF accepted")
		}
		for k, v := range m.Skipped {
			if !slices.Contains(skipReasons, k) || v <= 0 {
				t.Fatalf("Skipped[%q] = %d", k, v)
			}
		}
		n := 0
		for i, ws := range m.workloads {
			w := ws.workload
			if source.Unattributed(w.Namespace, w.Name) {
				t.Fatalf("workload %q kept", w)
			}
			if i > 0 {
				p := m.workloads[i-1].workload
				if p.Namespace > w.Namespace || p.Namespace == w.Namespace && p.Name >= w.Name {
					t.Fatalf("workloads out of order or repeated: %s then %s", p, w)
				}
			}
			for _, s := range ws.series {
				for j, x := range s.samples {
					if math.IsNaN(x.V) || math.IsInf(x.V, 0) || x.V < 0 {
						t.Fatalf("%s: sample value %v kept", w, x.V)
					}
					if j > 0 && x.T <= s.samples[j-1].T {
						t.Fatalf("%s: samples not strictly increasing in time: %d then %d", w, s.samples[j-1].T, x.T)
					}
					if x.T < m.First.UnixMilli() || x.T > m.Last.UnixMilli() {
						t.Fatalf("%s: sample at %d outside [First, Last] = [%s, %s]", w, x.T, m.First, m.Last)
					}
				}
				n += len(s.samples)
			}
		}
		if n != m.Samples {
			t.Fatalf("Samples = %d, but %d samples kept", m.Samples, n)
		}
		if n == 0 {
			return
		}
		for _, when := range []time.Time{m.First, m.First.Add(30 * time.Second), m.First.Add(time.Minute),
			m.First.Add(m.Last.Sub(m.First) / 2), m.Last, m.Last.Add(30 * time.Second)} {
			obs, err := m.Observe(t.Context(), when)
			if err != nil {
				t.Fatalf("Observe(%s): %v", when, err)
			}
			for _, o := range obs {
				if !(o.Requests >= 0) || !(o.Failures >= 0) || !(o.Failures <= o.Requests) {
					t.Fatalf("Observe(%s): %s requests %v failures %v", when, o.Workload, o.Requests, o.Failures)
				}
				if r := o.Ratio(); !(r >= 0 && r <= 1) {
					t.Fatalf("Observe(%s): %s ratio %v (requests %v failures %v)", when, o.Workload, r, o.Requests, o.Failures)
				}
			}
		}
	})
}

func TestFuzzSeedsPresent(t *testing.T) {
	for _, name := range []string{"FuzzReadMetrics", "FuzzReadObjects"} {
		entries, err := fuzzSeeds(name)
		if err != nil || len(entries) < 5 {
			t.Errorf("testdata/fuzz/%s: %d seeds, %v; want several", name, len(entries), err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e, "go test fuzz v1\n[]byte(") {
				t.Errorf("testdata/fuzz/%s: seed not in go test fuzz v1 []byte format: %.40q", name, e)
			}
		}
	}
}
