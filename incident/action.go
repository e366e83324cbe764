// Package incident is what sentinel tells the world: the actions it takes
// on an incident (page, rollback, resolve), the notices around them
// (drift, break glass, blindness, a rollback not done, unverified or
// reverted), the image changes it saw or made, their one-line summaries,
// and Details, the one rendering that `simulate -o json`, PagerDuty and
// the log all carry.
package incident

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// Action is one thing sentinel did, or would have done. Which fields are
// set follows from Kind (see each kind).
type Action struct {
	At   time.Time
	Kind Kind
	// Workload is the Deployment acted on; empty for Blind and Sighted,
	// which are about sentinel itself.
	Workload workload.Ref
	// Incident is the incident's id (workload.IncidentID) for the kinds
	// that belong to one (Kind.OfIncident).
	Incident string
	// Onset is the incident's onset, or for Blind and Sighted the first
	// poll without an answer.
	Onset time.Time
	// Ratio and Requests (per second) are of the evaluation behind the
	// action.
	Ratio    float64
	Requests float64
	// FailureCodes is the configured pattern, for wording ("5xx").
	FailureCodes string
	// FailedBy splits the evaluation's failures by what failed, for
	// wording ("gRPC UNAVAILABLE"); nil unless a call failed with a gRPC
	// status.
	FailedBy []detector.Failure
	// Cause is the linked change (pages; nil when none was found), or
	// the drifting change (Drift).
	Cause *history.Change
	// Decision is the rollback decision taken with the page.
	Decision rollback.Decision
	// Plan is the rollback carried out, or not done or not verified.
	Plan *rollback.Plan
	// Message says what went wrong (RollbackFailed, RollbackUnverified,
	// Blind), why blindness ended (Sighted), or why an incident was
	// resolved other than by its errors ending (Resolve).
	Message string
	// RunbookURL is linked from every page.
	RunbookURL string
	// Evidence explains a page: which revision failed, when the errors
	// began, why the change was or was not blamed. Nil elsewhere.
	Evidence *Evidence
	// User is who made a Change's change as the API server authenticated
	// them, where something checked tells: the break-glass annotation the
	// admission guard compares with the requesting user. "" when unknown.
	User string
}

// subject is who the summary is about.
func (a Action) subject() string {
	if a.Workload == (workload.Ref{}) {
		return "sentinel" // about sentinel itself, such as being blind
	}
	return a.Workload.String()
}

// Summary is the one line the on-call reads first: one line whatever the
// names and messages in it hold (workload.Printable).
func (a Action) Summary() string { return workload.Printable(a.summary()) }

func (a Action) summary() string {
	w := a.subject()
	switch a.Kind {
	case Page:
		return w + ": " + a.Evidence.failing(a) + "; " + decisionText(a.Decision)
	case Rollback:
		return w + ": " + rollbackText(a.Plan)
	case Resolve:
		if a.Message != "" {
			return w + ": resolved: " + a.Message
		}
		return fmt.Sprintf("%s: resolved, %.1f%% of requests failing (%s) at %.1f req/s", w,
			a.Ratio*100, a.failureWord(), a.Requests)
	case Sighted:
		return w + ": resolved: " + a.Message
	case Change:
		return w + ": " + changeText(a)
	case Drift:
		s := w + ": drift: image changed outside the trusted deployers"
		if c := a.Cause; c != nil {
			s += " by " + c.By() + describeImages(c.ImagesBefore, c.ImagesAfter)
		}
		return s
	default:
		return w + ": " + a.Message
	}
}

// decisionText is what a page says of its rollback decision.
func decisionText(d rollback.Decision) string {
	switch p := d.Plan; {
	case p != nil && p.DryRun:
		return "would roll back to " + target(p) + " (dry-run)"
	case p != nil:
		return "rolling back to " + target(p)
	}
	return "not rolled back: " + d.Explain()
}

// target names a plan's target: its image for a one-container
// Deployment, else its revision and the containers it changes.
func target(p *rollback.Plan) string {
	if single(p.FromImages, p.ToImages) {
		return ShortImage(p.ToImages[0].Image)
	}
	return fmt.Sprintf("revision %d", p.ToRevision) + describeImages(p.FromImages, p.ToImages)
}

// rollbackText is the one wording of a rollback, done or dry-run.
func rollbackText(p *rollback.Plan) string {
	if p == nil {
		return "rolled back"
	}
	verb := "rolled back"
	if p.DryRun {
		verb = "would roll back (dry-run)"
	}
	if single(p.FromImages, p.ToImages) {
		return fmt.Sprintf("%s from revision %d (%s) to revision %d (%s)", verb,
			p.FromRevision, ShortImage(p.FromImages[0].Image), p.ToRevision, ShortImage(p.ToImages[0].Image))
	}
	return fmt.Sprintf("%s from revision %d to revision %d", verb, p.FromRevision, p.ToRevision) +
		describeImages(p.FromImages, p.ToImages)
}

var digitsAndDots = regexp.MustCompile(`^[0-9.]+$`)

// codesWord turns "5.." into "5xx"; other patterns are shown as written.
func codesWord(p string) string {
	if p == "" {
		return "failures"
	}
	if digitsAndDots.MatchString(p) {
		return strings.ReplaceAll(p, ".", "x")
	}
	return "codes " + p
}

// describeChange says who changed what, the way an operator would type it.
func describeChange(c *history.Change) string {
	var how string
	switch {
	case c.Manager == "kubectl-set" && c.ImageChanged:
		how = "kubectl set image (kubectl-set)"
	case c.Manager == "kubectl-set":
		how = "kubectl set (kubectl-set)"
	case ViaHelm(c.Manager):
		how = "a Helm release (" + c.Manager + ")"
	default:
		how = "a change by " + c.By()
	}
	if c.ImageChanged {
		return how + describeImages(c.ImagesBefore, c.ImagesAfter)
	}
	if len(c.Fields) > 0 {
		return how + " of " + strings.Join(c.Fields[:min(len(c.Fields), maxListed)], ", ") + more(len(c.Fields))
	}
	return how
}

// more is " and N more" for the entries of n past maxListed.
func more(n int) string {
	if n <= maxListed {
		return ""
	}
	return fmt.Sprintf(" and %d more", n-maxListed)
}

// ViaHelm reports whether a field manager is Helm itself (Helm 3 writes as
// "helm"). Flux's helm-controller is not: it is a GitOps controller
// (rollback.GitOpsController).
func ViaHelm(manager string) bool { return manager == "helm" }
