package simulate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/pager"
)

// JSONWriter prints one JSON object per action per line.
type JSONWriter struct{ W io.Writer }

// Notify prints a.
func (j JSONWriter) Notify(_ context.Context, a incident.Action) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode action: %w", err)
	}
	_, err = fmt.Fprintf(j.W, "%s\n", b)
	return err
}

// TextWriter prints a readable timeline.
type TextWriter struct{ W io.Writer }

// Notify prints a.
func (t TextWriter) Notify(_ context.Context, a incident.Action) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s  %s\n", a.At.UTC().Format(time.RFC3339), strings.ToUpper(a.Kind.String()), a.Summary())
	d := a.Details()
	switch a.Kind {
	case incident.Page:
		fmt.Fprintf(&b, "%22s error ratio %.1f%% at %.1f req/s, onset %s\n", "", a.Ratio*100, a.Requests,
			a.Onset.UTC().Format(time.RFC3339))
		if c := d.Cause; c != nil {
			fmt.Fprintf(&b, "%22s cause: revision %d at %s by %s (via Helm: %t), changed %s\n", "",
				c.Revision, c.At.Format(time.RFC3339), cmp.Or(c.Manager, "unknown"), c.ViaHelm, strings.Join(c.Fields, ", "))
			if c.ImageChanged {
				fmt.Fprintf(&b, "%22s images: %s -> %s\n", "", shortImages(c.Previous), shortImages(c.Images))
			}
		} else {
			fmt.Fprintf(&b, "%22s cause: none blamed\n", "")
		}
		if ev := a.Evidence; ev != nil {
			fmt.Fprintf(&b, "%22s failing: %s; errors began %s\n", "", ev.What(), ev.Began.UTC().Format(time.RFC3339))
			fmt.Fprintf(&b, "%22s why: %s\n", "", ev.Why)
			if ev.Reopened {
				fmt.Fprintf(&b, "%22s reopened: failing again after the incident resolved at %s\n", "", ev.ResolvedAt.UTC().Format(time.RFC3339))
			}
		}
		verdict := "no rollback"
		if d.Decision.Rollback {
			verdict = "roll back"
		}
		fmt.Fprintf(&b, "%22s decision: %s (%s)\n", "", verdict, d.Decision.Explanation)
		if d.RunbookURL != "" {
			fmt.Fprintf(&b, "%22s runbook: %s\n", "", d.RunbookURL)
		}
	case incident.Rollback:
		if a.Plan == nil || d.Plan == nil {
			break
		}
		fmt.Fprintf(&b, "%22s target ReplicaSet %s, images %s\n", "", a.Plan.ReplicaSet, shortImages(d.ToImages))
	}
	_, err := io.WriteString(t.W, b.String())
	return err
}

// shortImages lists images as incident.ShortImage renders them.
func shortImages(imgs []string) string {
	parts := make([]string, len(imgs))
	for i, img := range imgs {
		parts[i] = incident.ShortImage(img)
	}
	return strings.Join(parts, ", ")
}

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

// PagerDutyWriter prints, per action, the PagerDuty Events API v2 event
// the daemon would send (one JSON object per line), routing key hidden.
type PagerDutyWriter struct {
	W      io.Writer
	Paging config.Paging
}

// Notify prints a's event, if it has one.
func (p PagerDutyWriter) Notify(_ context.Context, a incident.Action) error {
	ev, ok, err := pager.Preview(p.Paging, a)
	if err != nil {
		return fmt.Errorf("render pagerduty event: %w", err)
	}
	if !ok {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode pagerduty event: %w", err)
	}
	_, err = fmt.Fprintf(p.W, "%s\n", b)
	return err
}
