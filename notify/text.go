package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
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

// Notify prints a. Each line is Printable: no name, image or message in
// it can start a line of its own.
func (t Text) Notify(_ context.Context, a incident.Action) error {
	var b strings.Builder
	line := func(format string, args ...any) {
		b.WriteString(workload.Printable(fmt.Sprintf(format, args...)))
		b.WriteByte('\n')
	}
	line("%s  %-8s  %s", a.At.UTC().Format(time.RFC3339), strings.ToUpper(a.Kind.String()), a.Summary())
	d := a.Details()
	switch a.Kind {
	case incident.Page:
		line("%22s error ratio %.1f%% at %.1f req/s, onset %s", "", a.Ratio*100, a.Requests,
			a.Onset.UTC().Format(time.RFC3339))
		if c := d.Cause; c != nil {
			line("%22s cause: revision %d at %s by %s (via Helm: %t), changed %s", "",
				c.Revision, c.At.Format(time.RFC3339), c.By(), c.ViaHelm, strings.Join(c.Fields, ", "))
			if c.ImageChanged {
				line("%22s images: %s -> %s", "", shortImages(c.Previous), shortImages(c.Images))
			}
		} else {
			line("%22s cause: none blamed", "")
		}
		if ev := a.Evidence; ev != nil {
			began := "errors began " + ev.Began.UTC().Format(time.RFC3339)
			if !ev.IncidentBegan.IsZero() {
				began = "errors began again " + ev.Began.UTC().Format(time.RFC3339) + " (first " +
					ev.IncidentBegan.UTC().Format(time.RFC3339) + ")"
			}
			line("%22s failing: %s; %s", "", ev.What(), began)
			line("%22s why: %s", "", ev.Why)
			if ev.Reopened {
				line("%22s reopened: failing again after the incident resolved at %s", "", ev.ResolvedAt.UTC().Format(time.RFC3339))
			}
		}
		verdict := "no rollback"
		if d.Decision.Rollback {
			verdict = "roll back"
		}
		line("%22s decision: %s (%s)", "", verdict, d.Decision.Explanation)
		if d.RunbookURL != "" {
			line("%22s runbook: %s", "", d.RunbookURL)
		}
	case incident.Rollback:
		if a.Plan == nil || d.Plan == nil {
			break
		}
		line("%22s target ReplicaSet %s, images %s", "", a.Plan.ReplicaSet, shortImages(d.ToImages))
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
