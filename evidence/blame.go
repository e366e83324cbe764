package evidence

import (
	"fmt"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/history"
)

// Blame is the verdict on which change, if any, caused a failure.
type Blame struct {
	// Cause is the change blamed; nil when none is.
	Cause *history.Change
	// Began is when the errors began: the start of the run in which the
	// failing revision's (or, without per-revision metrics, the
	// workload's) failure ratio left the healthy band.
	Began time.Time
	// Failing is the revision whose pods failed first; false without
	// per-revision metrics.
	Failing    Revision
	HasFailing bool
	// Later are changes made after the errors began: reported, never
	// blamed.
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
	// RuleNoChange: no change was made in the link window before the
	// errors began.
	RuleNoChange Rule = "no_change_before_errors"
)

// BlameChange decides which of changes — a workload's template changes
// from the link window before the errors began up to now, oldest first —
// caused the failure ev shows, detected at onset. A change is the cause
// only if the errors are on the revision it created or, without
// per-revision metrics, only if it was made before the errors began (the
// first poll of the run outside the healthy band).
func BlameChange(ev Workload, onset time.Time, changes []history.Change) Blame {
	b := Blame{Began: ev.Began}
	if b.Began.IsZero() || b.Began.After(onset) {
		b.Began = onset
	}
	limit := b.Began // changes after it are reported, never blamed
	if f, ok := ev.FailingRevision(); ok {
		b.Failing, b.HasFailing = f, true
		b.Began = f.Began
		b.Rule = RuleOlderRevisionFailing
		for i := len(changes) - 1; i >= 0; i-- {
			if c := changes[i]; c.Revision == f.Revision && !c.At.After(onset) {
				b.Cause, b.Rule = &changes[i], RuleFailingRevision
				break
			}
		}
	} else {
		b.Rule = RuleNoChange
		for i := len(changes) - 1; i >= 0; i-- {
			// managedFields times are whole seconds: a change stamped with
			// the very second of the poll that first saw the errors may
			// have been made just before it, and counts.
			if !changes[i].At.After(limit) {
				b.Cause, b.Rule = &changes[i], RuleBeforeErrors
				break
			}
		}
	}
	for i, c := range changes {
		if c.At.After(limit) && (b.Cause == nil || &changes[i] != b.Cause) {
			b.Later = append(b.Later, c)
		}
	}
	return b
}

// Explain says in a sentence why the change was or was not blamed.
func (b Blame) Explain() string {
	var s string
	began := b.Began.UTC().Format("15:04:05")
	switch b.Rule {
	case RuleFailingRevision:
		s = fmt.Sprintf("errors are on revision %d, which this change created %s before they began at %s",
			b.Failing.Revision, ago(b.Began.Sub(b.Cause.At)), began)
	case RuleBeforeErrors:
		s = fmt.Sprintf("the change came %s before the errors began at %s", ago(b.Began.Sub(b.Cause.At)), began)
	case RuleOlderRevisionFailing:
		s = fmt.Sprintf("errors began at %s on revision %d, which no change in the link window created",
			began, b.Failing.Revision)
	default:
		s = fmt.Sprintf("no change in the link window before the errors began at %s", began)
	}
	for _, c := range b.Later {
		s += fmt.Sprintf("; %s by %s %s after errors began: not blamed", what(c), c.By(), ago(c.At.Sub(b.Began)))
	}
	return s
}

func what(c history.Change) string {
	if c.ImageChanged {
		return "image changed"
	}
	return "template changed"
}

// ago renders a duration the way people say it: "25 s", "3 m 10 s".
func ago(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	s := strings.TrimSuffix(fmt.Sprintf("%d m %d s", int(d.Minutes()), int(d.Seconds())%60), " 0 s")
	return s
}
