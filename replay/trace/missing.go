package trace

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sentinel-sre/sentinel/workload"
)

// listed is how many workloads NoSuchWorkload names.
const listed = 10

// NoSuchWorkload is the error for tracing w when the replay's workloads
// are known and w is none of them: it names the one likeliest meant (a
// few edits away) and up to ten, those of w's namespace first. where says what was
// replayed ("the recording (metrics.om and objects.yaml)").
func NoSuchWorkload(w workload.Ref, known []workload.Ref, where string) error {
	if len(known) == 0 {
		return fmt.Errorf("--trace %s: %s has no workload at all", w, where)
	}
	known = slices.Clone(known)
	slices.SortFunc(known, func(a, b workload.Ref) int {
		if (a.Namespace == w.Namespace) != (b.Namespace == w.Namespace) {
			if a.Namespace == w.Namespace {
				return -1
			}
			return 1
		}
		return workload.Compare(a, b)
	})
	names := make([]string, 0, listed)
	for _, k := range known[:min(listed, len(known))] {
		names = append(names, k.String())
	}
	list := fmt.Sprintf("its %d %s: %s", len(known), plural(len(known), "workload", "workloads"), strings.Join(names, ", "))
	if len(known) > listed {
		list += fmt.Sprintf(" and %d more", len(known)-listed)
	}
	if near, ok := nearest(w, known); ok {
		return fmt.Errorf("--trace %s: no such workload in %s; did you mean %s? (%s)", w, where, near, list)
	}
	return fmt.Errorf("--trace %s: no such workload in %s; %s", w, where, list)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// nearest is the workload a typo away from w: the fewest edits to its
// name and namespace (a wrong namespace counts one), when that is at
// most a third of the name's length (one for short names, three at most).
func nearest(w workload.Ref, known []workload.Ref) (workload.Ref, bool) {
	best, bestD := workload.Ref{}, -1
	for _, k := range known {
		d := distance(w.String(), k.String())
		if k.Namespace != w.Namespace {
			d = min(d, distance(w.Name, k.Name)+1)
		}
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	return best, bestD >= 0 && bestD <= max(1, min(3, len(w.Name)/3))
}

// distance is the optimal string alignment distance between a and b, in
// bytes: insertions, deletions, substitutions and transpositions of
// neighbours ("crat" is one from "cart").
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
