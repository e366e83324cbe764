package simulate

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/incident"
)

// Tally counts actions by kind: a replay's totals are those of the
// actions it reported.
func Tally(actions []incident.Action) map[incident.Kind]int {
	n := map[incident.Kind]int{}
	for _, a := range actions {
		n[a.Kind]++
	}
	return n
}

// WriteSummary prints the replay's totals, counted from the actions it
// reported, after a text timeline, and the configuration used.
func WriteSummary(w io.Writer, r Result, actions []incident.Action) error {
	var b strings.Builder
	n := Tally(actions)
	fmt.Fprintf(&b, "\nreplayed %s to %s: %s, %s, %s; %s, %s, %s\n",
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), count(r.Polls, "poll"),
		count(r.Samples, "sample"), count(r.Objects, "object"),
		count(n[incident.Page], "page"), count(n[incident.Rollback], "rollback"), count(n[incident.Resolve], "resolve"))
	if r.Config != "" {
		fmt.Fprintf(&b, "configuration: %s\n", r.Config)
	}
	if len(r.Skipped) > 0 {
		keys := make([]string, 0, len(r.Skipped))
		for k := range r.Skipped {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, r.Skipped[k])
		}
		fmt.Fprintf(&b, "skipped malformed samples: %s\n", strings.Join(parts, " "))
	}
	if r.Reordered > 0 {
		fmt.Fprintf(&b, "%s out of time order in the file, replayed in order\n", count(r.Reordered, "sample"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
