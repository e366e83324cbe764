package scenario

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// A replay is bounded: it polls every instant from the first sample to
// the last, so one stray timestamp must not stretch it over decades.
// earliest and latest (2000-01-01 and 2100-01-01 in Unix milliseconds)
// bound a plausible sample time; a timestamp outside is an error naming
// its line.
const (
	earliest int64 = 946684800000
	latest   int64 = 4102444800000
)

// MaxGap is the longest time between two consecutive sample times of a
// recording (over all series). Samples further apart from the rest are
// taken for wrong timestamps, an error naming their line.
const MaxGap = 24 * time.Hour

// spanWidth is the width of the buckets a recording's time range is
// summarised in, in milliseconds.
const spanWidth = int64(time.Hour / time.Millisecond)

// checkTime rejects a sample time (in milliseconds, as parsed from the
// file's seconds) that cannot be a real one, saying what it likely is.
func checkTime(t int64) error {
	if t >= earliest && t < latest {
		return nil
	}
	secs := strconv.FormatFloat(float64(t)/1000, 'f', -1, 64)
	for _, u := range []struct {
		name string
		div  int64
	}{{"milliseconds", 1e3}, {"microseconds", 1e6}, {"nanoseconds", 1e9}} {
		if s := t / u.div; s >= earliest && s < latest {
			return fmt.Errorf("timestamp %s is in %s: OpenMetrics timestamps are seconds since the epoch (%s)",
				secs, u.name, time.UnixMilli(s).UTC().Format(time.RFC3339))
		}
	}
	return fmt.Errorf("timestamp %s is not a time between 2000 and 2100: OpenMetrics timestamps are seconds since the epoch", secs)
}

// span summarises the samples of one bucket of time.
type span struct {
	n          int
	minT, maxT int64
	line       int // the first line holding one, 1-based once merged
}

func (s *span) add(t int64, line int) {
	if s.n == 0 || t < s.minT {
		s.minT = t
	}
	if s.n == 0 || t > s.maxT {
		s.maxT = t
	}
	if s.n == 0 || line < s.line {
		s.line = line
	}
	s.n++
}

// spans are a recording's sample times by bucket (t / spanWidth).
type spans map[int64]*span

func (ss spans) get(key int64) *span {
	s := ss[key]
	if s == nil {
		s = &span{}
		ss[key] = s
	}
	return s
}

// merge adds o, whose lines start at firstLine.
func (ss spans) merge(o spans, firstLine int) {
	for k, x := range o {
		s := ss.get(k)
		line := x.line + firstLine
		if s.n == 0 || line < s.line {
			s.line = line
		}
		if s.n == 0 || x.minT < s.minT {
			s.minT = x.minT
		}
		if s.n == 0 || x.maxT > s.maxT {
			s.maxT = x.maxT
		}
		s.n += x.n
	}
}

// check finds samples more than MaxGap apart from the rest: the runs of
// sample times separated by such gaps, all but the one holding the most
// samples being strays. The error names the first line of the stray run
// holding the fewest samples (the likeliest typo) and the rest's range.
func (ss spans) check(name string) error {
	keys := make([]int64, 0, len(ss))
	for k := range ss {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	type run struct {
		n, line    int
		minT, maxT int64
	}
	var runs []run
	for _, k := range keys {
		s := ss[k]
		if len(runs) > 0 && s.minT-runs[len(runs)-1].maxT <= MaxGap.Milliseconds() {
			r := &runs[len(runs)-1]
			r.n += s.n
			r.maxT = s.maxT
			r.line = min(r.line, s.line)
			continue
		}
		runs = append(runs, run{n: s.n, line: s.line, minT: s.minT, maxT: s.maxT})
	}
	if len(runs) < 2 {
		return nil
	}
	main, stray := 0, -1
	for i, r := range runs {
		if r.n > runs[main].n {
			main = i
		}
	}
	for i, r := range runs {
		if i != main && (stray < 0 || r.n < runs[stray].n) {
			stray = i
		}
	}
	m, s := runs[main], runs[stray]
	dist, side := m.minT-s.maxT, "before"
	if s.minT > m.maxT {
		dist, side = s.minT-m.maxT, "after"
	}
	return fmt.Errorf("%s:%d: %s: %d sample(s) at %s, %s %s the rest of the recording (%d samples, %s to %s): "+
		"a recording's samples are never more than %s apart; is the timestamp wrong?",
		name, s.line, "sample far outside the recording's time range", s.n, fmtMillis(s.minT), fmtGap(dist), side, m.n,
		fmtMillis(m.minT), fmtMillis(m.maxT), fmtGap(MaxGap.Milliseconds()))
}

func fmtMillis(t int64) string { return time.UnixMilli(t).UTC().Format(time.RFC3339) }

// fmtGap is a long duration in days, else as time.Duration prints it.
func fmtGap(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.0f days", math.Floor(d.Hours()/24))
	}
	return d.String()
}
