package backtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/workload"
)

// WorkloadSummary is what a backtest would have done to one workload.
type WorkloadSummary struct {
	Workload  workload.Ref
	Pages     int
	Rollbacks int
	// Refused counts pages whose rollback was refused, by reason.
	Refused map[string]int
	// ToPage is, per page, the time from the first failing poll (the
	// incident's onset) to the page.
	ToPage []time.Duration
	// Repeated: two pages less than a day apart.
	Repeated bool
}

// Summarize groups actions by workload, in workload order; workloads
// without a page or rollback are left out.
func Summarize(actions []incident.Action) []WorkloadSummary {
	by := map[workload.Ref]*WorkloadSummary{}
	pages := map[workload.Ref][]time.Time{}
	get := func(w workload.Ref) *WorkloadSummary {
		s := by[w]
		if s == nil {
			s = &WorkloadSummary{Workload: w, Refused: map[string]int{}}
			by[w] = s
		}
		return s
	}
	for _, a := range actions {
		if a.Workload == (workload.Ref{}) {
			continue // about sentinel itself (blind)
		}
		switch a.Kind {
		case incident.Page:
			s := get(a.Workload)
			s.Pages++
			s.ToPage = append(s.ToPage, a.At.Sub(a.Onset))
			if !a.Decision.Rollback() {
				s.Refused[string(a.Decision.Reason)]++
			}
			if p := pages[a.Workload]; len(p) > 0 && a.At.Sub(p[len(p)-1]) < 24*time.Hour {
				s.Repeated = true
			}
			pages[a.Workload] = append(pages[a.Workload], a.At)
		case incident.Rollback:
			get(a.Workload).Rollbacks++
		}
	}
	out := make([]WorkloadSummary, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b WorkloadSummary) int { return workload.Compare(a.Workload, b.Workload) })
	return out
}

// plural writes n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WriteSummary prints the backtest's totals, counted from the actions it
// reported, and, per workload that paged or would have been rolled back,
// what happened, after a text timeline.
func WriteSummary(w io.Writer, r Result, actions []incident.Action) error {
	var b strings.Builder
	n := simulate.Tally(actions)
	fmt.Fprintf(&b, "\nbacktest %s to %s: %s (%d without data), %s; %s, %s, %s\n",
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), plural(r.Polls, "poll"), r.NoData,
		plural(r.Objects, "object"), plural(n[incident.Page], "page"), plural(n[incident.Rollback], "rollback"),
		plural(n[incident.Resolve], "resolve"))
	if r.Polls > 0 && r.NoData == r.Polls {
		b.WriteString("the source had no data for any poll: is the range within its retention, and the metric and labels those of the config?\n")
	}
	sums := Summarize(actions)
	if len(sums) == 0 {
		b.WriteString("no workload would have paged\n")
	} else {
		fmt.Fprintf(&b, "%-40s %5s %9s  %s\n", "workload", "pages", "rollbacks", "first failing poll to page")
	}
	var repeated []string
	for _, s := range sums {
		waits := make([]string, len(s.ToPage))
		for i, d := range s.ToPage {
			waits[i] = d.String()
		}
		fmt.Fprintf(&b, "%-40s %5d %9d  %s%s\n", s.Workload, s.Pages, s.Rollbacks, strings.Join(waits, ", "), refusals(s.Refused))
		if s.Repeated {
			repeated = append(repeated, s.Workload.String())
		}
	}
	if len(repeated) > 0 {
		fmt.Fprintf(&b, "paged more than once within 24 h (tune or fix these first): %s\n", strings.Join(repeated, ", "))
	} else if len(sums) > 0 {
		b.WriteString("no workload would have paged more than once within 24 h\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func refusals(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return "  (not rolled back: " + strings.Join(parts, ", ") + ")"
}
