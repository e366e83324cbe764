package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/incident"
)

// JSON prints one JSON object per action per line.
type JSON struct{ W io.Writer }

// Notify prints a.
func (j JSON) Notify(_ context.Context, a incident.Action) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode action: %w", err)
	}
	_, err = fmt.Fprintf(j.W, "%s\n", b)
	return err
}

// Text prints a readable timeline.
type Text struct{ W io.Writer }

// Notify prints a.
func (t Text) Notify(_ context.Context, a incident.Action) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s  %s\n", a.At.UTC().Format(time.RFC3339), strings.ToUpper(a.Kind.String()), a.Summary())
	d := a.Details()
	switch a.Kind {
	case incident.Page:
		fmt.Fprintf(&b, "%22s error ratio %.1f%% at %.1f req/s, onset %s\n", "", a.Ratio*100, a.Requests,
			a.Onset.UTC().Format(time.RFC3339))
		if c := d.Cause; c != nil {
			fmt.Fprintf(&b, "%22s cause: revision %d at %s by %s (via Helm: %t), changed %s\n", "",
				c.Revision, c.At.Format(time.RFC3339), c.By(), c.ViaHelm, strings.Join(c.Fields, ", "))
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
