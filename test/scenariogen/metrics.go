package scenariogen

import (
	"bufio"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// okCode answers every request no failure claims.
const okCode = "200"

const metricHeader = "# HELP istio_requests Total requests.\n# TYPE istio_requests counter\n"

// writeMetrics writes metrics.om: per pod, reporter and response code one
// series of istio_requests_total, its samples in time order. A series
// starts at the first scrape after its pod answered that code (as Envoy
// creates it on the first such request) and ends with its pod. Every
// reporter sees the same counts: the sidecars on both ends of a request
// count it once each.
func (s *Scenario) writeMetrics(bw *bufio.Writer) (series, samples int, err error) {
	if _, err := bw.WriteString(metricHeader); err != nil {
		return 0, 0, err
	}
	var (
		buf  []byte
		vals [][]int64 // per code, per scrape from the window start
	)
	for _, w := range s.sorted() {
		epochs, err := w.plan()
		if err != nil {
			return 0, 0, err
		}
		codes := w.codes()
		for _, p := range w.pods(epochs) {
			var first, n int
			vals, first, n = w.counters(p, codes, vals)
			if n == 0 {
				continue
			}
			for _, rep := range s.opts.Reporters {
				for ci, code := range codes {
					prefix := s.seriesPrefix(w, p.name, rep, code)
					wrote := false
					for k, v := range vals[ci][:n] {
						if v == 0 {
							continue // not created yet
						}
						buf = append(buf[:0], prefix...)
						buf = strconv.AppendInt(buf, v, 10)
						buf = append(buf, ' ')
						buf = strconv.AppendInt(buf, s.opts.Start.Add(time.Duration(first+k)*s.opts.Step).Unix(), 10)
						buf = append(buf, '\n')
						if _, err := bw.Write(buf); err != nil {
							return 0, 0, err
						}
						samples++
						wrote = true
					}
					if wrote {
						series++
					}
				}
			}
		}
	}
	if _, err := bw.WriteString("# EOF\n"); err != nil {
		return 0, 0, err
	}
	return series, samples, nil
}

// sorted returns the workloads by namespace and name.
func (s *Scenario) sorted() []*Workload {
	out := slices.Clone(s.workloads)
	slices.SortStableFunc(out, func(a, b *Workload) int {
		return strings.Compare(a.spec.Namespace+"/"+a.spec.Name, b.spec.Namespace+"/"+b.spec.Name)
	})
	return out
}

// codes lists the response codes a workload can answer, 200 first.
func (w *Workload) codes() []string {
	out := []string{okCode}
	for _, f := range w.failures {
		if !slices.Contains(out, f.Code) {
			out = append(out, f.Code)
		}
	}
	slices.Sort(out[1:])
	return out
}

// scrapeRange is the range of scrapes [lo, hi] that see pod p serving,
// scrape k being at Start + k*Step; lo is negative for a pod that started
// before the recording.
func scrapeRange(o Options, p pod) (lo, hi int) {
	step := o.Step.Nanoseconds()
	lo = int(ceilDiv(p.from.Sub(o.Start).Nanoseconds(), step))
	hi = int(o.End.Sub(o.Start).Nanoseconds() / step)
	if !p.until.IsZero() {
		// The last scrape strictly before until.
		hi = min(hi, int(ceilDiv(p.until.Sub(o.Start).Nanoseconds(), step))-1)
	}
	return lo, hi
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// counters computes pod p's counter of each code at the n in-window
// scrapes from scrape first on, into vals (reused), counting from the
// pod's start, before the window included. Arithmetic is in thousandths
// of a request, in integers.
func (w *Workload) counters(p pod, codes []string, vals [][]int64) (_ [][]int64, first, n int) {
	o := w.s.opts
	lo, hi := scrapeRange(o, p)
	first = max(lo, 0)
	n = max(hi-first+1, 0)
	for len(vals) < len(codes) {
		vals = append(vals, nil)
	}
	for ci := range codes {
		vals[ci] = slices.Grow(vals[ci][:0], n)[:n]
	}
	rate := int64(math.Round(w.spec.RequestRate * 1000 / float64(w.spec.Replicas))) // milli-requests per second per pod
	cum := make([]int64, len(codes))
	ppm := make([]int64, len(codes))
	for k := lo; k <= hi; k++ {
		t := o.Start.Add(time.Duration(k) * o.Step)
		since := t.Add(-o.Step)
		if since.Before(p.from) {
			since = p.from
		}
		total := rate * t.Sub(since).Milliseconds() / 1000
		// ±10% noise on the request count.
		total = total * (1000 + int64(mix(o.Seed, p.id, uint64(k), 0)%201) - 100) / 1000
		rest := total
		w.ratios(p.revision, t, codes, ppm)
		for ci := 1; ci < len(codes); ci++ {
			r := ppm[ci]
			if r == 0 {
				continue
			}
			// Noise of up to a fifth of the distance to 0 or 1.
			r += (int64(mix(o.Seed, p.id, uint64(k), uint64(ci))%401) - 200) * min(r, 1e6-r) / 1000
			share := min(total*r/1e6, rest)
			rest -= share
			cum[ci] += share
		}
		cum[0] += rest
		if k >= first {
			for ci := range codes {
				vals[ci][k-first] = cum[ci] / 1000
			}
		}
	}
	return vals, first, n
}

// ratios fills ppm with each code's share of requests, in parts per
// million, for a pod of revision at t.
func (w *Workload) ratios(revision int64, t time.Time, codes []string, ppm []int64) {
	clear(ppm)
	for _, f := range w.failures {
		if len(f.Revisions) > 0 && !slices.Contains(f.Revisions, revision) {
			continue
		}
		if t.Before(f.From) || (!f.To.IsZero() && !t.Before(f.To)) {
			continue
		}
		ppm[slices.Index(codes, f.Code)] += int64(math.Round(f.Ratio * 1e6))
	}
	for i := range ppm {
		ppm[i] = min(ppm[i], 1e6)
	}
}

// seriesPrefix is a series' name and labels followed by a space, in the
// label order of Istio's recordings.
func (s *Scenario) seriesPrefix(w *Workload, podName, reporter, code string) string {
	var b strings.Builder
	b.WriteString("istio_requests_total{")
	label := func(name, value string) {
		if b.Len() > len("istio_requests_total{") {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(value))
		b.WriteByte('"')
	}
	sp := w.spec
	label("destination_workload", sp.Name)
	label("destination_workload_namespace", sp.Namespace)
	if !s.opts.MinimalLabels {
		label("destination_service_name", sp.Name)
	}
	label("pod", podName)
	label("reporter", reporter)
	if !s.opts.MinimalLabels {
		label("request_protocol", "http")
	}
	label("response_code", code)
	if !s.opts.MinimalLabels {
		label("response_flags", "-")
		label("source_workload", sp.Source)
		label("source_workload_namespace", sp.SourceNamespace)
	}
	b.WriteString("} ")
	return b.String()
}

// escapeLabel escapes a label value as OpenMetrics requires.
func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
