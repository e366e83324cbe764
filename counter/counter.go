// Package counter computes the increase of a Prometheus counter over a
// range the way PromQL's increase() and rate() do: per series, correcting
// counter resets, and extrapolating to the range boundaries. Only then are
// series aggregated, so pods that come and go, restarts at zero and missed
// scrapes never show up as traffic or failures that did not happen.
//
// The arithmetic follows extrapolatedRate in Prometheus's promql/functions.go
// (left-open range (start, end], at least two samples).
package counter

import "sort"

// Sample is one counter value at a time in milliseconds since the epoch.
type Sample struct {
	T int64
	V float64
}

// After returns the index of the first sample of s (sorted by time) later
// than t.
func After(s []Sample, t int64) int {
	return sort.Search(len(s), func(i int) bool { return s[i].T > t })
}

// Window returns the samples of s (sorted by time) inside (start, end].
func Window(s []Sample, start, end int64) []Sample {
	lo := After(s, start)
	hi := lo + sort.Search(len(s)-lo, func(i int) bool { return s[lo+i].T > end })
	return s[lo:hi]
}

// Increase is the extrapolated increase of the counter over (start, end]
// given the samples inside that range (see Window). ok is false with fewer
// than two samples: the increase is then unknown, not zero.
func Increase(in []Sample, start, end int64) (inc float64, ok bool) {
	if len(in) < 2 {
		return 0, false
	}
	first, last := in[0], in[len(in)-1]
	result := last.V - first.V
	prev := first.V
	for _, s := range in[1:] {
		if s.V < prev { // counter reset: the counter restarted from zero
			result += prev
		}
		prev = s.V
	}

	sampled := float64(last.T-first.T) / 1000
	if sampled <= 0 {
		return 0, false
	}
	toStart := float64(first.T-start) / 1000
	toEnd := float64(end-last.T) / 1000
	avg := sampled / float64(len(in)-1)
	threshold := avg * 1.1

	// Extrapolate to a boundary only when it is about one interval away;
	// otherwise the series started or ended inside the range.
	if toStart >= threshold {
		toStart = avg / 2
	}
	// A counter cannot have been below zero: do not extrapolate the start
	// further back than where the series would have reached zero.
	if result > 0 && first.V >= 0 {
		if toZero := sampled * (first.V / result); toZero < toStart {
			toStart = toZero
		}
	}
	if toEnd >= threshold {
		toEnd = avg / 2
	}
	return result * (sampled + toStart + toEnd) / sampled, true
}
