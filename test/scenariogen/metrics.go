package scenariogen

import (
	"bufio"
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/config"
)

// okCode answers every request no failure claims.
const okCode = "200"

// writeMetrics writes metrics.om: the counters of every pod and outcome,
// as the mesh reports them (seriesOf), samples in time order. A series
// starts at the first scrape after its pod answered that outcome (as the
// proxy creates it on the first such request) and ends with its pod.
// Every reporter sees the same counts: the sidecars on both ends of a
// request count it once each. Under istio-ambient the namespace's
// waypoint counts every pod's requests in one series per workload and
// outcome, from the first to the last scrape.
func (s *Scenario) writeMetrics(bw *bufio.Writer) (series, samples int, err error) {
	if _, err := bw.WriteString(s.header()); err != nil {
		return 0, 0, err
	}
	var vals [][]int64 // per outcome, per scrape from the window start
	sw := &seriesWriter{bw: bw, start: s.opts.Start, step: s.opts.Step}
	for _, w := range s.sorted() {
		epochs, err := w.plan()
		if err != nil {
			return 0, 0, err
		}
		outs := w.outcomes()
		var waypoint [][]int64
		if s.opts.Mesh == config.MeshIstioAmbient {
			waypoint = make([][]int64, len(outs))
			for i := range waypoint {
				waypoint[i] = make([]int64, s.scrapes())
			}
		}
		for _, p := range w.pods(epochs) {
			var first, n int
			vals, first, n = w.counters(p, outs, vals)
			if n == 0 {
				continue
			}
			if waypoint != nil {
				addCounters(waypoint, vals, first, n)
				continue
			}
			for _, prefix := range s.podSeries(w, p, outs) {
				if err := sw.write(prefix.text, vals[prefix.outcome][:n], first); err != nil {
					return 0, 0, err
				}
			}
		}
		for oi, counts := range waypoint {
			if err := sw.write(s.waypointSeries(w, outs[oi]), counts, 0); err != nil {
				return 0, 0, err
			}
		}
	}
	if _, err := bw.WriteString("# EOF\n"); err != nil {
		return 0, 0, err
	}
	return sw.series, sw.samples, nil
}

// seriesWriter writes series' samples, counting them.
type seriesWriter struct {
	bw              *bufio.Writer
	start           time.Time
	step            time.Duration
	buf             []byte
	series, samples int
}

// write writes a series' samples: its counter at scrapes first,
// first+1, ..., leaving out the zeros before it was created.
func (sw *seriesWriter) write(prefix string, vals []int64, first int) error {
	wrote := false
	for k, v := range vals {
		if v == 0 {
			continue // not created yet
		}
		sw.buf = append(sw.buf[:0], prefix...)
		sw.buf = strconv.AppendInt(sw.buf, v, 10)
		sw.buf = append(sw.buf, ' ')
		sw.buf = strconv.AppendInt(sw.buf, sw.start.Add(time.Duration(first+k)*sw.step).Unix(), 10)
		sw.buf = append(sw.buf, '\n')
		if _, err := sw.bw.Write(sw.buf); err != nil {
			return err
		}
		sw.samples++
		wrote = true
	}
	if wrote {
		sw.series++
	}
	return nil
}

// scrapes is the number of scrapes from Start to End.
func (s *Scenario) scrapes() int { return int(s.opts.End.Sub(s.opts.Start)/s.opts.Step) + 1 }

// addCounters adds a pod's counters, at n scrapes from first, to a
// waypoint's: the pod's count stays in it after the pod is gone.
func addCounters(into, vals [][]int64, first, n int) {
	for oi := range into {
		for k := first; k < len(into[oi]); k++ {
			into[oi][k] += vals[oi][min(k-first, n-1)]
		}
	}
}

// sorted returns the workloads by namespace and name.
func (s *Scenario) sorted() []*Workload {
	out := slices.Clone(s.workloads)
	slices.SortStableFunc(out, func(a, b *Workload) int {
		return strings.Compare(a.spec.Namespace+"/"+a.spec.Name, b.spec.Namespace+"/"+b.spec.Name)
	})
	return out
}

// outcome is how a request was answered: its HTTP status and, for a gRPC
// call, its gRPC status.
type outcome struct{ code, grpc string }

func (o outcome) String() string {
	if o.grpc == "" {
		return o.code
	}
	return o.code + "/gRPC " + o.grpc
}

func outcomeOf(f Failure) outcome { return outcome{f.Code, f.GRPC} }

// ok is how the requests no failure claims are answered.
func (w *Workload) ok() outcome {
	if w.spec.GRPC {
		return outcome{okCode, "0"}
	}
	return outcome{code: okCode}
}

// outcomes lists the outcomes a workload's requests can have, ok first,
// the others by code and gRPC status.
func (w *Workload) outcomes() []outcome {
	out := []outcome{w.ok()}
	for _, f := range w.failures {
		if !slices.Contains(out, outcomeOf(f)) {
			out = append(out, outcomeOf(f))
		}
	}
	slices.SortFunc(out[1:], func(a, b outcome) int {
		return cmp.Or(strings.Compare(a.code, b.code), strings.Compare(a.grpc, b.grpc))
	})
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

// counters computes pod p's counter of each outcome at the n in-window
// scrapes from scrape first on, into vals (reused), counting from the
// pod's start, before the window included. Arithmetic is in thousandths
// of a request, in integers.
func (w *Workload) counters(p pod, codes []outcome, vals [][]int64) (_ [][]int64, first, n int) {
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

// ratios fills ppm with each outcome's share of requests, in parts per
// million, for a pod of revision at t.
func (w *Workload) ratios(revision int64, t time.Time, codes []outcome, ppm []int64) {
	clear(ppm)
	for _, f := range w.failures {
		if len(f.Revisions) > 0 && !slices.Contains(f.Revisions, revision) {
			continue
		}
		if t.Before(f.From) || (!f.To.IsZero() && !t.Before(f.To)) {
			continue
		}
		ppm[slices.Index(codes, outcomeOf(f))] += int64(math.Round(f.Ratio * 1e6))
	}
	for i := range ppm {
		ppm[i] = min(ppm[i], 1e6)
	}
}

// escapeLabel escapes a label value as OpenMetrics requires.
func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
