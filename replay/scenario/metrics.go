// Package scenario reads a replay scenario (docs/scenarios.md): Istio
// request counters in OpenMetrics text (metrics.om), parsed with
// Prometheus's own parser so a file promtool backfills is a file sentinel
// replays, and the Deployments and ReplicaSets observed (objects.yaml).
// Metrics answers what a live source does — each workload's request and
// failure rates at a time — computing per-series increases as PromQL does
// (package counter) before it aggregates.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/counter"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// Istio's standard label and metric names, the defaults of
// metrics.prometheus (see Names).
const (
	MetricName     = "istio_requests_total"
	LabelNamespace = "destination_workload_namespace"
	LabelWorkload  = "destination_workload"
	LabelReporter  = "reporter"
	LabelCode      = "response_code"
	LabelGRPC      = "grpc_response_status"
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
	SkipDuplicate    = "duplicate_timestamp" // a series' second sample at one time; the first is kept
	SkipNotSupported = "not_a_sample"
)

// Metrics is a recording of Istio request counters, grouped by workload.
type Metrics struct {
	window    time.Duration
	workloads []workloadSeries
	// Skipped counts malformed samples that were skipped, by reason.
	Skipped map[string]int
	// Reordered counts samples written after a later sample of their
	// series; they are kept, in time order.
	Reordered int
	// Ignored counts samples of series the live query does not select
	// (another metric or reporter).
	Ignored int
	// Samples is the number of samples kept.
	Samples int
	// First and Last are the times of the earliest and latest sample kept.
	First, Last time.Time
}

type workloadSeries struct {
	workload  workload.Ref
	series    []*series
	revisions []string // the distinct revisions its series name
	grpc      bool     // a series failed with a gRPC status
}

type series struct {
	failure bool
	grpc    string // the gRPC status it failed with; "" for none
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
func ReadMetricsFile(path string, opts Options) (*Metrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	return ReadMetrics(f, path, opts)
}

// Options say how a recording is read: which series, what a failure is,
// the rate window.
type Options struct {
	// Names are the live query's metric, selector and label names
	// (NamesFor); the zero value reads nothing.
	Names Names
	// FailureCodes matches a failed request's response code
	// (config.CompileCodes of detection.failure_codes); GRPCCodes its gRPC
	// status (config.CompileGRPCCodes of detection.grpc_failure_codes),
	// nil to judge none.
	FailureCodes, GRPCCodes *regexp.Regexp
	// Window is detection.rate_window.
	Window time.Duration
	// chunkSize overrides defaultChunkSize, for tests.
	chunkSize int
}

// defaultChunkSize bounds how much of the file is held at once: large
// recordings are parsed a slice of whole lines at a time, several slices
// in parallel.
const defaultChunkSize = 8 << 20

// ReadMetrics parses OpenMetrics text. Syntax errors, a missing "# EOF"
// (a truncated file), a timestamp that is no plausible time (milliseconds
// where seconds belong, say) and samples more than MaxGap apart from the
// rest of the recording are errors naming the file and line; well-formed
// samples that cannot be used (no timestamp, NaN or negative counter, no
// workload labels, a repeated timestamp) are skipped and counted in
// Skipped. Only the series the live query selects (opts.Names) are read.
//
// The text is cut into chunks of whole lines that are parsed in parallel
// (one parser per core) and merged in file order, so a series' samples
// keep their order.
func ReadMetrics(r io.Reader, name string, opts Options) (*Metrics, error) {
	if opts.FailureCodes == nil {
		return nil, errors.New("read metrics: no failure codes given")
	}
	size := opts.chunkSize
	if size <= 0 {
		size = defaultChunkSize
	}
	m := &Metrics{window: opts.Window, Skipped: map[string]int{}}
	b := &builder{m: m, byLabels: map[string]*series{}, byWorkload: map[workload.Ref]int{}, spans: spans{}}

	br, err := openMetrics(r, name, opts.Names)
	if err != nil {
		return nil, err
	}
	p := startParsers(br, size, opts)
	// On return (an error may come early), stop the reader and parsers.
	defer p.stop()

	line := 1 // first line of the chunk
	sawEOF := false
	for c := range p.inOrder {
		<-c.done
		if c.err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line+c.lines, shortError{c.err})
		}
		b.merge(c, line)
		line += c.lines
		sawEOF = c.final
		p.free <- c.buf[:0]
	}
	if err := <-p.readErr; err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	if !sawEOF {
		return nil, fmt.Errorf("%s:%d: truncated: the file does not end with \"# EOF\"", name, line)
	}
	if err := b.spans.check(name); err != nil {
		return nil, err
	}
	b.finish()
	return m, nil
}

// shortError cuts the parser's message, which quotes the rest of the
// line (a line may be megabytes long).
type shortError struct{ error }

func (e shortError) Error() string {
	const limit = 300
	if m := e.error.Error(); len(m) > limit {
		return strings.ToValidUTF8(m[:limit], "") + "…"
	}
	return e.error.Error()
}

func (e shortError) Unwrap() error { return e.error }

type builder struct {
	m          *Metrics
	byLabels   map[string]*series // canonical label set → series
	byWorkload map[workload.Ref]int
	spans      spans
}

// merge adds a parsed chunk's series, in file order; the chunk's lines
// start at line.
func (b *builder) merge(c *chunk, line int) {
	for k, n := range c.skipped {
		b.m.Skipped[k] += n
	}
	b.m.Ignored += c.ignored
	b.spans.merge(c.spans, line)
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
	s := &series{failure: cs.failure, grpc: cs.grpc, rev: -1, revName: cs.revision}
	i, ok := b.byWorkload[cs.workload]
	if !ok {
		i = len(b.m.workloads)
		b.byWorkload[cs.workload] = i
		b.m.workloads = append(b.m.workloads, workloadSeries{workload: cs.workload})
	}
	b.m.workloads[i].series = append(b.m.workloads[i].series, s)
	b.m.workloads[i].grpc = b.m.workloads[i].grpc || cs.grpc != ""
	return s
}

func (b *builder) finish() {
	m := b.m
	var first, last int64 = math.MaxInt64, math.MinInt64
	for _, ws := range m.workloads {
		for _, s := range ws.series {
			s.samples = m.sortSamples(s.samples)
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
	slices.SortFunc(m.workloads, func(a, b workloadSeries) int { return workload.Compare(a.workload, b.workload) })
	if m.Samples > 0 {
		m.First, m.Last = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
	}
}

// sortSamples puts a series' samples (in file order) in time order,
// counting in Reordered those written after a later one, and keeps the
// first of samples with the same time, counting the others as
// SkipDuplicate.
func (m *Metrics) sortSamples(s []counter.Sample) []counter.Sample {
	sorted := true
	for i := 1; i < len(s); i++ {
		if s[i].T < s[i-1].T {
			sorted = false
			break
		}
	}
	if !sorted {
		var latest int64 = math.MinInt64
		for _, x := range s {
			if x.T < latest {
				m.Reordered++
			}
			latest = max(latest, x.T)
		}
		sort.SliceStable(s, func(i, j int) bool { return s[i].T < s[j].T })
	}
	out := s[:0]
	for i, x := range s {
		if i > 0 && x.T == out[len(out)-1].T {
			m.Skipped[SkipDuplicate]++
			continue
		}
		out = append(out, x)
	}
	return out
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

// Workloads lists the workloads in the recording, sorted.
func (m *Metrics) Workloads() []workload.Ref {
	out := make([]workload.Ref, len(m.workloads))
	for i, ws := range m.workloads {
		out[i] = ws.workload
	}
	return out
}

// Observe returns each workload's request and failure rates over the rate
// window ending at at, as the live query does with the same names; by
// default
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
		var by source.Failures
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
				if ws.grpc {
					by.Add(s.grpc, inc)
				}
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
				Revisions: servedRevisions(ws.revisions, revs), FailedBy: by.Rates(secs)})
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
