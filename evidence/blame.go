package evidence

import (
	"fmt"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/history"
)

// Incident is what blame knows of an incident besides its evidence.
type Incident struct {
	// Onset is the detector's onset: the incident's first breaching poll.
	Onset time.Time
	// Began is when the incident's errors began as its first page found
	// them; zero before that page. A page decided again — the incident
	// reopened, a look back, a leader taking over — is blamed against it,
	// so the verdict of its first page holds for the whole incident.
	Began time.Time
}

// Since is when the incident's errors began: the earliest of Began, the
// start of ev's run and the onset.
func (in Incident) Since(ev Workload) time.Time {
	since := in.Onset
	if !ev.Began.IsZero() && ev.Began.Before(since) {
		since = ev.Began
	}
	if !in.Began.IsZero() && in.Began.Before(since) {
		since = in.Began
	}
	return since
}

// Blame is the verdict on which change, if any, caused a failure.
type Blame struct {
	// Cause is the change blamed; nil when none is.
	Cause *history.Change
	// Began is when the errors began: the start of the run in which the
	// failing revision's (or, without per-revision metrics, the
	// workload's) failure ratio left the healthy band. With Again, when
	// they began again.
	Began time.Time
	// Since is when the incident's errors began (Incident.Since): changes
	// made after it are never blamed.
	Since time.Time
	// Again: the errors stopped and began again since the incident's
	// began (it reopened), at Began.
	Again bool
	// Failing is the revision whose pods failed first; false without
	// per-revision metrics.
	Failing    Revision
	HasFailing bool
	// Later are changes made after the incident's errors began: reported,
	// never blamed.
	Later []history.Change
	// Rule says how the cause was chosen (see the Rule constants).
	Rule Rule
}

// Rule says how a Blame was reached. A closed set.
type Rule string

const (
	// RuleFailingRevision: the change created the revision whose pods fail.
	RuleFailingRevision Rule = "failing_revision"
	// RuleBeforeErrors: without per-revision metrics, the newest change
	// made before the errors began.
	RuleBeforeErrors Rule = "before_errors"
	// RuleOlderRevisionFailing: the errors began on a revision no change
	// in the link window created.
	RuleOlderRevisionFailing Rule = "older_revision_failing"
	// RuleCreatedAfterErrors: the errors are on a revision a change made
	// after the incident's errors began created — a person's fix, or
	// sentinel's own rollback — which is never blamed.
	RuleCreatedAfterErrors Rule = "created_after_errors"
	// RuleNoChange: no change was made in the link window before the
	// errors began.
	RuleNoChange Rule = "no_change_before_errors"
)

// BlameChange decides which of changes — a workload's template changes
// from the link window before the incident's errors began
// (Incident.Since) up to now, oldest first — caused the failure ev shows.
// A change is the cause only if the errors are on the revision it created
// (made at the latest at the onset) or, without per-revision metrics, only
// if it was made before the errors began (the first poll of the run
// outside the healthy band). A change made after the incident's errors
// began never is.
func BlameChange(ev Workload, in Incident, changes []history.Change) Blame {
	since := in.Since(ev)
	b := Blame{Began: since, Since: since, Again: ev.Began.After(since)}
	if b.Again {
		b.Began = ev.Began
	}
	if f, ok := ev.FailingRevision(); ok {
		b.Failing, b.HasFailing = f, true
		b.Began = f.Began
		b.Rule = RuleOlderRevisionFailing
		for i := len(changes) - 1; i >= 0; i-- {
			c := changes[i]
			switch {
			case c.Revision != f.Revision:
			case !c.At.After(in.Onset):
				b.Cause, b.Rule = &changes[i], RuleFailingRevision
			case c.At.After(since):
				b.Rule = RuleCreatedAfterErrors
			}
			if b.Cause != nil {
				break
			}
		}
	} else {
		b.Rule = RuleNoChange
		for i := len(changes) - 1; i >= 0; i-- {
			// managedFields times are whole seconds: a change stamped with
			// the very second of the poll that first saw the errors may
			// have been made just before it, and counts.
			if !changes[i].At.After(since) {
				b.Cause, b.Rule = &changes[i], RuleBeforeErrors
				break
			}
		}
	}
	for i, c := range changes {
		if c.At.After(since) && (b.Cause == nil || &changes[i] != b.Cause) {
			b.Later = append(b.Later, c)
		}
	}
	return b
}

// Explain says in a sentence why the change was or was not blamed.
func (b Blame) Explain() string {
	var s string
	began, since, again, errs := clock(b.Began), clock(b.Since), "", "the errors"
	if b.Again {
		again, errs = " again", "the incident's errors"
	}
	switch b.Rule {
	case RuleFailingRevision:
		s = fmt.Sprintf("errors are on revision %d, which this change created %s they began%s at %s",
			b.Failing.Revision, relative(b.Began.Sub(b.Cause.At)), again, began)
	case RuleBeforeErrors:
		s = fmt.Sprintf("the change came %s before %s began at %s", ago(b.Since.Sub(b.Cause.At)), errs, since)
	case RuleOlderRevisionFailing:
		s = fmt.Sprintf("errors began%s at %s on revision %d, which no change in the link window created",
			again, began, b.Failing.Revision)
	case RuleCreatedAfterErrors:
		s = fmt.Sprintf("errors began%s at %s on revision %d, which a change made after the incident's errors began at %s created",
			again, began, b.Failing.Revision, since)
	default:
		s = fmt.Sprintf("no change in the link window before %s began at %s", errs, since)
	}
	if b.Again && !b.HasFailing {
		s += "; they began again at " + began
	}
	for _, c := range b.Later {
		s += "; " + b.later(c) + ": not blamed"
	}
	return s
}

// later says when a change made after the incident's errors began came.
func (b Blame) later(c history.Change) string {
	head := fmt.Sprintf("%s by %s ", what(c), c.By())
	switch {
	case b.Again && c.At.Before(b.Began):
		return head + fmt.Sprintf("%s before the errors began again, %s after the incident's errors began",
			ago(b.Began.Sub(c.At)), ago(c.At.Sub(b.Since)))
	case b.Again:
		return head + ago(c.At.Sub(b.Began)) + " after the errors began again"
	case c.At.Before(b.Began):
		// The failing revision's pods left the healthy band after the
		// workload's did; the change came between.
		return head + fmt.Sprintf("%s after the errors began at %s", ago(c.At.Sub(b.Since)), clock(b.Since))
	}
	return head + ago(c.At.Sub(b.Began)) + " after errors began"
}

func what(c history.Change) string {
	if c.ImageChanged {
		return "image changed"
	}
	return "template changed"
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

// relative says "25 s before" or "25 s after" for d, the time from a
// change to what followed it.
func relative(d time.Duration) string {
	if d < 0 {
		return ago(-d) + " after"
	}
	return ago(d) + " before"
}

// ago renders a duration, never negative, the way people say it: "25 s",
// "3 m 10 s".
func ago(d time.Duration) string {
	d = d.Abs().Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	s := strings.TrimSuffix(fmt.Sprintf("%d m %d s", int(d.Minutes()), int(d.Seconds())%60), " 0 s")
	return s
}
