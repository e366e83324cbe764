// Package recording reads a replay scenario (the format of
// shared/scenarios/README.md): Istio request counters in OpenMetrics text
// (metrics.om) and the Deployments and ReplicaSets observed, as a YAML
// stream (objects.yaml).
//
// The OpenMetrics text is parsed with Prometheus's own parser
// (github.com/prometheus/prometheus/model/textparse), so a file that
// promtool backfills is a file sentinel replays. Metrics answers the same
// question a live metrics source does — each workload's request and
// failure rates at a given time — computing per-series increases the way
// PromQL does (package counter) before it aggregates.
package recording

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/sentinel-sre/sentinel/counter"
	"github.com/sentinel-sre/sentinel/detector"
)

// Istio's standard label and metric names.
const (
	MetricName     = "istio_requests_total"
	LabelNamespace = "destination_workload_namespace"
	LabelWorkload  = "destination_workload"
	LabelReporter  = "reporter"
	LabelCode      = "response_code"
	// Reporter is the reporter whose series are used: the server-side
	// sidecar sees every request the workload answered.
	Reporter = "destination"
)

// Skip reasons, a closed set.
const (
	SkipNoTimestamp  = "no_timestamp"
	SkipBadValue     = "bad_value"
	SkipNoWorkload   = "no_workload"
	SkipOutOfOrder   = "out_of_order"
	SkipNotSupported = "not_a_sample"
)

// Metrics is a recording of Istio request counters, grouped by workload.
type Metrics struct {
	window    time.Duration
	workloads []workloadSeries
	// Skipped counts malformed samples that were skipped, by reason.
	Skipped map[string]int
	// Samples is the number of samples kept.
	Samples int
	// First and Last are the times of the earliest and latest sample kept.
	First, Last time.Time
}

type workloadSeries struct {
	workload detector.Workload
	series   []*series
}

type series struct {
	failure bool
	samples []counter.Sample
}

// ReadMetricsFile reads a metrics.om file; see ReadMetrics.
func ReadMetricsFile(path string, failureCodes *regexp.Regexp, window time.Duration) (*Metrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	return ReadMetrics(f, path, failureCodes, window)
}

// chunkSize bounds how much of the file is held at once: large recordings
// are parsed a slice of whole lines at a time.
const chunkSize = 8 << 20

// ReadMetrics parses OpenMetrics text. Syntax errors and a missing "# EOF"
// (a truncated file) are errors naming the file and line; well-formed
// samples that cannot be used (no timestamp, NaN or negative counter,
// no workload labels) are skipped and counted in Skipped.
// Series other than istio_requests_total with reporter="destination" are
// ignored.
func ReadMetrics(r io.Reader, name string, failureCodes *regexp.Regexp, window time.Duration) (*Metrics, error) {
	m := &Metrics{window: window, Skipped: map[string]int{}}
	b := &builder{m: m, codes: failureCodes, byRaw: map[string]*series{},
		byWorkload: map[detector.Workload]int{}, st: labels.NewSymbolTable(),
		byLabels: map[string]*series{}, noWorkload: &series{}}

	br := bufio.NewReaderSize(r, 64<<10)
	var (
		buf     []byte
		line    = 1 // first line of the chunk
		sawEOF  bool
		readErr error
	)
	for readErr == nil {
		buf = buf[:0]
		for len(buf) < chunkSize {
			part, err := br.ReadSlice('\n')
			buf = append(buf, part...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				readErr = err
				break
			}
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return nil, fmt.Errorf("%s: read: %w", name, readErr)
		}
		if len(buf) == 0 {
			break
		}
		last := readErr != nil
		if !last {
			if _, err := br.Peek(1); errors.Is(err, io.EOF) {
				last = true
			}
		}
		chunk := buf
		if !last || !bytes.HasSuffix(bytes.TrimRight(buf, "\n"), []byte("# EOF")) {
			// Every chunk but the true end is closed so the parser accepts it.
			chunk = append(buf, "# EOF\n"...)
			buf = chunk[:len(buf)]
		} else {
			sawEOF = true
		}
		n, err := b.parse(chunk)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line+n, err)
		}
		line += n
	}
	if !sawEOF {
		return nil, fmt.Errorf("%s:%d: truncated: the file does not end with \"# EOF\"", name, line)
	}
	b.finish()
	return m, nil
}

type builder struct {
	m          *Metrics
	codes      *regexp.Regexp
	st         *labels.SymbolTable
	byRaw      map[string]*series // nil value: a series that is ignored
	byLabels   map[string]*series // canonical label set → series
	noWorkload *series            // marks series without workload labels
	byWorkload map[detector.Workload]int
	lbls       labels.Labels
}

// parse parses one chunk and returns the number of lines it consumed,
// which on error is the index of the failing line within the chunk.
func (b *builder) parse(chunk []byte) (int, error) {
	p := textparse.NewOpenMetricsParser(chunk, b.st)
	n := 0
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if e != textparse.EntrySeries {
			if e == textparse.EntryHistogram {
				b.m.Skipped[SkipNotSupported]++
			}
			continue
		}
		raw, ts, v := p.Series()
		s, known := b.byRaw[string(raw)]
		if !known {
			p.Labels(&b.lbls)
			key := b.lbls.String()
			var seen bool
			if s, seen = b.byLabels[key]; !seen {
				s = b.newSeries(b.lbls)
				b.byLabels[key] = s
			}
			b.byRaw[string(raw)] = s
		}
		if s == nil {
			continue
		}
		if s == b.noWorkload {
			b.m.Skipped[SkipNoWorkload]++
			continue
		}
		switch {
		case ts == nil:
			b.m.Skipped[SkipNoTimestamp]++
		case math.IsNaN(v) || math.IsInf(v, 0) || v < 0:
			b.m.Skipped[SkipBadValue]++
		default:
			s.samples = append(s.samples, counter.Sample{T: *ts, V: v})
		}
	}
}

// newSeries classifies a series on first sight; nil means ignore it.
func (b *builder) newSeries(l labels.Labels) *series {
	if l.Get(labels.MetricName) != MetricName || l.Get(LabelReporter) != Reporter {
		return nil
	}
	w := detector.Workload{Namespace: l.Get(LabelNamespace), Name: l.Get(LabelWorkload)}
	if w.Namespace == "" || w.Name == "" || w.Name == "unknown" {
		return b.noWorkload
	}
	s := &series{failure: b.codes.MatchString(l.Get(LabelCode))}
	i, ok := b.byWorkload[w]
	if !ok {
		i = len(b.m.workloads)
		b.byWorkload[w] = i
		b.m.workloads = append(b.m.workloads, workloadSeries{workload: w})
	}
	b.m.workloads[i].series = append(b.m.workloads[i].series, s)
	return s
}

func (b *builder) finish() {
	m := b.m
	var first, last int64 = math.MaxInt64, math.MinInt64
	for _, ws := range m.workloads {
		for _, s := range ws.series {
			s.samples = dedupe(s.samples, m.Skipped)
			m.Samples += len(s.samples)
			if len(s.samples) > 0 {
				first = min(first, s.samples[0].T)
				last = max(last, s.samples[len(s.samples)-1].T)
			}
		}
	}
	sort.Slice(m.workloads, func(i, j int) bool {
		a, b := m.workloads[i].workload, m.workloads[j].workload
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	if m.Samples > 0 {
		m.First, m.Last = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
	}
}

// dedupe sorts samples by time and drops repeated timestamps (a series
// written twice), counting them as out of order.
func dedupe(s []counter.Sample, skipped map[string]int) []counter.Sample {
	if !sort.SliceIsSorted(s, func(i, j int) bool { return s[i].T < s[j].T }) {
		sort.SliceStable(s, func(i, j int) bool { return s[i].T < s[j].T })
	}
	out := s[:0]
	for i, x := range s {
		if i > 0 && x.T == out[len(out)-1].T {
			skipped[SkipOutOfOrder]++
			continue
		}
		out = append(out, x)
	}
	return out
}

// Workloads lists the workloads in the recording, sorted.
func (m *Metrics) Workloads() []detector.Workload {
	out := make([]detector.Workload, len(m.workloads))
	for i, ws := range m.workloads {
		out[i] = ws.workload
	}
	return out
}

// Observe returns each workload's request and failure rates over the rate
// window ending at at, like
//
//	sum by (ns, workload) (rate(istio_requests_total{reporter="destination", response_code=~"5.."}[1m]))
//	/ sum by (ns, workload) (rate(istio_requests_total{reporter="destination"}[1m]))
//
// A workload none of whose series has two samples in the window is left
// out: its traffic is unknown.
func (m *Metrics) Observe(_ context.Context, at time.Time) ([]detector.Observation, error) {
	end := at.UnixMilli()
	start := end - m.window.Milliseconds()
	secs := m.window.Seconds()
	out := make([]detector.Observation, 0, len(m.workloads))
	for _, ws := range m.workloads {
		var total, failed float64
		known := false
		for _, s := range ws.series {
			inc, ok := counter.Increase(counter.Window(s.samples, start, end), start, end)
			if !ok {
				continue
			}
			known = true
			total += inc
			if s.failure {
				failed += inc
			}
		}
		if math.IsInf(total, 0) || math.IsNaN(total) {
			continue // overflowed: unknown, never a ratio
		}
		if known {
			out = append(out, detector.Observation{Workload: ws.workload, Requests: total / secs, Failures: failed / secs})
		}
	}
	return out, nil
}
