package simulate

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// WriteSummary prints the replay's totals after a text timeline, and the
// configuration used.
func WriteSummary(w io.Writer, r Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nreplayed %s to %s: %s, %s, %s; %s, %s, %s\n",
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), count(r.Polls, "poll"),
		count(r.Samples, "sample"), count(r.Objects, "object"),
		count(r.Stats.Pages, "page"), count(r.Stats.Rollbacks, "rollback"), count(r.Stats.Resolves, "resolve"))
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
