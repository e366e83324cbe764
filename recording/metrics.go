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
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/sentinel-sre/sentinel/counter"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
)

// Istio's standard label and metric names.
const (
	MetricName     = "istio_requests_total"
	LabelNamespace = "destination_workload_namespace"
	LabelWorkload  = "destination_workload"
	LabelReporter  = "reporter"
	LabelCode      = "response_code"
	// LabelRevision and LabelPod say which revision's pods served a
	// series: the pod-template-hash copied from the pod's labels, else the
	// pod's name (the ReplicaSet's name and a suffix), as the live query
	// reads them with the default metrics.prometheus labels.
	LabelRevision = "pod_template_hash"
	LabelPod      = "pod"
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
	workload  detector.Workload
	series    []*series
	revisions []string // the distinct revisions its series name
}

type series struct {
	failure bool
	// rev indexes the workload's revisions; -1 without a revision label.
	rev     int
	revName string
	samples []counter.Sample
	// lo is the first sample after the previous window's start: replays
	// ask for windows in time order, so the next window is found by
	// stepping forward from here instead of searching.
	lo int
}

// window returns the samples in (start, end].
func (s *series) window(start, end int64) []counter.Sample {
	if s.lo > 0 && s.samples[s.lo-1].T > start {
		s.lo = 0 // an earlier time than last asked: look from the beginning
	}
	if s.lo == 0 {
		s.lo = counter.After(s.samples, start)
	}
	for s.lo < len(s.samples) && s.samples[s.lo].T <= start {
		s.lo++
	}
	hi := s.lo
	for hi < len(s.samples) && s.samples[hi].T <= end {
		hi++
	}
	return s.samples[s.lo:hi]
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
// are parsed a slice of whole lines at a time, several slices in parallel.
const chunkSize = 8 << 20

// ReadMetrics parses OpenMetrics text. Syntax errors and a missing "# EOF"
// (a truncated file) are errors naming the file and line; well-formed
// samples that cannot be used (no timestamp, NaN or negative counter,
// no workload labels) are skipped and counted in Skipped.
// Series other than istio_requests_total with reporter="destination" are
// ignored.
//
// The text is cut into chunks of whole lines that are parsed in parallel
// (one parser per core) and merged in file order, so a series' samples
// keep their order.
func ReadMetrics(r io.Reader, name string, failureCodes *regexp.Regexp, window time.Duration) (*Metrics, error) {
	m := &Metrics{window: window, Skipped: map[string]int{}}
	b := &builder{m: m, byLabels: map[string]*series{}, byWorkload: map[detector.Workload]int{}}

	workers := max(1, runtime.GOMAXPROCS(0))
	free := make(chan []byte, workers+2)
	for range workers + 2 {
		free <- make([]byte, 0, chunkSize+64<<10)
	}
	todo := make(chan *chunk, workers+2)
	inOrder := make(chan *chunk, workers+2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// On return (an error may come early), stop the reader, then wait for
	// the parsers: deferred calls run last first.
	defer wg.Wait()
	defer close(stop)

	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range todo {
				c.parse(failureCodes)
				close(c.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(inOrder)
		defer close(todo)
		readErr <- readChunks(r, free, stop, func(c *chunk) bool {
			select {
			case todo <- c:
			case <-stop:
				return false
			}
			select {
			case inOrder <- c:
				return true
			case <-stop:
				return false
			}
		})
	}()

	line := 1 // first line of the chunk
	sawEOF := false
	for c := range inOrder {
		<-c.done
		if c.err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line+c.lines, c.err)
		}
		line += c.lines
		sawEOF = c.final
		b.merge(c)
		free <- c.buf[:0]
	}
	if err := <-readErr; err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	if !sawEOF {
		return nil, fmt.Errorf("%s:%d: truncated: the file does not end with \"# EOF\"", name, line)
	}
	b.finish()
	return m, nil
}

// readChunks cuts r into chunks of whole lines and hands them to send in
// order; every chunk but a final one ending in "# EOF" is closed with one,
// so the parser accepts it.
func readChunks(r io.Reader, free <-chan []byte, stop <-chan struct{}, send func(*chunk) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		var buf []byte
		select {
		case buf = <-free:
		case <-stop:
			return nil
		}
		var readErr error
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
			return readErr
		}
		if len(buf) == 0 {
			return nil
		}
		last := readErr != nil
		if !last {
			if _, err := br.Peek(1); errors.Is(err, io.EOF) {
				last = true
			}
		}
		c := &chunk{done: make(chan struct{})}
		if last && bytes.HasSuffix(bytes.TrimRight(buf, "\n"), []byte("# EOF")) {
			c.final = true
			c.buf = buf
		} else {
			c.buf = append(buf, "# EOF\n"...)
		}
		if !send(c) || last {
			return nil
		}
	}
}

// chunk is a slice of whole lines and, once parsed, its series.
type chunk struct {
	buf   []byte
	final bool // ends the file with its own "# EOF"
	done  chan struct{}

	lines   int // lines parsed; on error, the failing line's index
	err     error
	series  []*chunkSeries
	skipped map[string]int
}

// chunkSeries is one series' samples within a chunk, classified.
type chunkSeries struct {
	key      string // the canonical label set
	workload detector.Workload
	failure  bool
	revision string
	samples  []counter.Sample
}

// parse parses the chunk. Classifying a series needs only its labels, so
// it happens here, in parallel; only the series' identity across chunks
// is left to the merge.
func (c *chunk) parse(codes *regexp.Regexp) {
	p := textparse.NewOpenMetricsParser(c.buf, labels.NewSymbolTable())
	c.skipped = map[string]int{}
	local := map[string]*chunkSeries{} // by raw text; nil: ignored
	var lbls labels.Labels
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			c.err = err
			return
		}
		c.lines++
		if e != textparse.EntrySeries {
			if e == textparse.EntryHistogram {
				c.skipped[SkipNotSupported]++
			}
			continue
		}
		raw, ts, v := p.Series()
		s, known := local[string(raw)]
		if !known {
			p.Labels(&lbls)
			s = classify(lbls, codes)
			if s != nil && s.key != "" {
				c.series = append(c.series, s)
			}
			local[string(raw)] = s
		}
		switch {
		case s == nil:
		case s.key == "": // no workload labels
			c.skipped[SkipNoWorkload]++
		case ts == nil:
			c.skipped[SkipNoTimestamp]++
		case math.IsNaN(v) || math.IsInf(v, 0) || v < 0:
			c.skipped[SkipBadValue]++
		default:
			s.samples = append(s.samples, counter.Sample{T: *ts, V: v})
		}
	}
}

// classify decides what a series is: nil when it is not sentinel's
// (another metric or reporter), a series without key when it lacks the
// workload labels, else a series of a workload.
func classify(l labels.Labels, codes *regexp.Regexp) *chunkSeries {
	if l.Get(labels.MetricName) != MetricName || l.Get(LabelReporter) != Reporter {
		return nil
	}
	w := detector.Workload{Namespace: l.Get(LabelNamespace), Name: l.Get(LabelWorkload)}
	if source.Unattributed(w.Namespace, w.Name) {
		return &chunkSeries{}
	}
	return &chunkSeries{key: l.String(), workload: w, failure: codes.MatchString(l.Get(LabelCode)), revision: revisionOf(l)}
}

// revisionOf names the revision whose pods served a series, as the live
// query does: the pod-template-hash, else the ReplicaSet name taken from
// the pod name (less its last "-suffix"); "" when neither is there.
func revisionOf(l labels.Labels) string {
	if h := l.Get(LabelRevision); h != "" {
		return h
	}
	pod := l.Get(LabelPod)
	if i := strings.LastIndexByte(pod, '-'); i > 0 {
		return pod[:i]
	}
	return ""
}

type builder struct {
	m          *Metrics
	byLabels   map[string]*series // canonical label set → series
	byWorkload map[detector.Workload]int
}

// merge adds a parsed chunk's series, in file order.
func (b *builder) merge(c *chunk) {
	for k, n := range c.skipped {
		b.m.Skipped[k] += n
	}
	for _, cs := range c.series {
		s, ok := b.byLabels[cs.key]
		if !ok {
			s = b.newSeries(cs)
			b.byLabels[cs.key] = s
		}
		s.samples = append(s.samples, cs.samples...)
	}
}

// newSeries adds a series to its workload.
func (b *builder) newSeries(cs *chunkSeries) *series {
	s := &series{failure: cs.failure, rev: -1, revName: cs.revision}
	i, ok := b.byWorkload[cs.workload]
	if !ok {
		i = len(b.m.workloads)
		b.byWorkload[cs.workload] = i
		b.m.workloads = append(b.m.workloads, workloadSeries{workload: cs.workload})
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
	for i := range m.workloads {
		m.workloads[i].indexRevisions()
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

// indexRevisions numbers the distinct revisions of a workload's series,
// in name order.
func (ws *workloadSeries) indexRevisions() {
	for _, s := range ws.series {
		if s.revName != "" && !slices.Contains(ws.revisions, s.revName) {
			ws.revisions = append(ws.revisions, s.revName)
		}
	}
	sort.Strings(ws.revisions)
	for _, s := range ws.series {
		s.rev = slices.Index(ws.revisions, s.revName)
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
// out: its traffic is unknown. Observe is fastest when asked in time
// order, as a replay does; it is not safe for concurrent use.
func (m *Metrics) Observe(_ context.Context, at time.Time) ([]detector.Observation, error) {
	end := at.UnixMilli()
	start := end - m.window.Milliseconds()
	secs := m.window.Seconds()
	out := make([]detector.Observation, 0, len(m.workloads))
	for _, ws := range m.workloads {
		var total, failed float64
		known := false
		var revs []detector.RevisionTraffic
		if len(ws.revisions) > 0 {
			revs = make([]detector.RevisionTraffic, len(ws.revisions))
		}
		for _, s := range ws.series {
			inc, ok := counter.Increase(s.window(start, end), start, end)
			if !ok {
				continue
			}
			known = true
			total += inc
			if s.failure {
				failed += inc
			}
			if s.rev >= 0 {
				revs[s.rev].Requests += inc / secs
				if s.failure {
					revs[s.rev].Failures += inc / secs
				}
			}
		}
		if math.IsInf(total, 0) || math.IsNaN(total) {
			continue // overflowed: unknown, never a ratio
		}
		if known {
			out = append(out, detector.Observation{Workload: ws.workload, Requests: total / secs, Failures: failed / secs,
				Revisions: servedRevisions(ws.revisions, revs)})
		}
	}
	return out, nil
}

// servedRevisions names the revisions and keeps those with traffic in the
// window (a revision whose pods are gone has no series in a live answer).
func servedRevisions(names []string, revs []detector.RevisionTraffic) []detector.RevisionTraffic {
	out := revs[:0]
	for i, r := range revs {
		if r.Requests > 0 {
			r.Revision = names[i]
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
