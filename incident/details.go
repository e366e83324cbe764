package incident

import (
	"cmp"
	"encoding/json"
	"math"
	"time"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
)

// maxImages bounds each image list of a rendering.
const maxImages = 5

// Details is the one rendering of an action, as Alertmanager's template
// data is of an alert: `sentinel simulate -o json` prints it, PagerDuty
// receives it as payload.custom_details, the log notifier writes its
// fields. Which fields are present follows from the kind; the names are
// documented and stable.
//
// To add what an action knows (per-revision evidence: which revision
// failed, when its errors began, why the change was or was not blamed),
// add a field to Action, a field with its json tag here, and one line in
// Action.Details; every rendering then carries it.
type Details struct {
	At time.Time `json:"at"`
	// Action is page, rollback, resolve or notice (Kind.Action); Kind
	// says which exactly.
	Action    string `json:"action"`
	Kind      Kind   `json:"kind"`
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	Incident  string `json:"incident"`
	Summary   string `json:"summary"`
	// Onset, ErrorRatio (0..1), RequestRate (per second) and
	// FailureCodes are of the evaluation behind an incident's action.
	// A ratio or rate that is not a finite number is left out.
	Onset        *time.Time `json:"onset,omitempty"`
	ErrorRatio   *float64   `json:"error_ratio,omitempty"`
	RequestRate  *float64   `json:"request_rate,omitempty"`
	FailureCodes string     `json:"failure_codes,omitempty"`
	// FailingAs names what failed, most first, when calls failed with a
	// gRPC status: "gRPC UNAVAILABLE", and "5xx" for failures by code.
	FailingAs []string `json:"failing_as,omitempty"`
	// Cause is the linked change of a page (null when none was found) or
	// the change a drift notice is about.
	Cause *Cause `json:"cause,omitempty"`
	// Decision is a page's rollback decision.
	Decision   *Decision `json:"decision,omitempty"`
	RunbookURL string    `json:"runbook_url,omitempty"`
	// Plan is the rollback of a Rollback, RollbackFailed or
	// RollbackUnverified action, its fields inline.
	*Plan
	// Message says what went wrong, or why blindness or the incident
	// ended.
	Message string `json:"message,omitempty"`
	// Evidence is a page's: which revision failed, when the errors began,
	// why the change was or was not blamed (docs/detection.md).
	Evidence *EvidenceDetails `json:"evidence,omitempty"`
	// User is who made a change, where known (Action.User).
	User string `json:"user,omitempty"`
}

// Cause is a change linked to an incident, or drifting.
type Cause struct {
	// Revision is the revision the change created; absent while unknown.
	Revision     int64     `json:"revision,omitempty"`
	At           time.Time `json:"at"`
	Manager      string    `json:"manager"`
	ViaHelm      bool      `json:"via_helm"`
	ImageChanged bool      `json:"image_changed"`
	// Images and Previous are the images after and before the change of
	// the containers whose image changed (Changes).
	Images   []string      `json:"images"`
	Previous []string      `json:"previous_images"`
	Changes  []ImageChange `json:"image_changes,omitempty"`
	Fields   []string      `json:"changed"`
}

// By names who made the change, as history.Change.By does.
func (c *Cause) By() string { return cmp.Or(c.Manager, history.UnknownManager) }

// Decision is a page's rollback decision.
type Decision struct {
	Rollback    bool   `json:"rollback"`
	DryRun      bool   `json:"dry_run,omitempty"`
	Reason      string `json:"reason"`
	Explanation string `json:"explanation"`
	// Plan is the rollback decided, if any.
	Plan *Plan `json:"plan,omitempty"`
}

// Plan is a rollback from one revision to another. The image lists hold
// the containers whose image differs between the two (Changes).
type Plan struct {
	FromRevision int64         `json:"from_revision"`
	ToRevision   int64         `json:"to_revision"`
	ToImages     []string      `json:"to_images"`
	FromImages   []string      `json:"from_images"`
	Changes      []ImageChange `json:"image_changes,omitempty"`
	DryRun       bool          `json:"dry_run,omitempty"`
}

// Details renders a.
func (a Action) Details() Details {
	d := Details{At: a.At.UTC(), Action: a.Kind.Action(), Kind: a.Kind, Namespace: a.Workload.Namespace,
		Workload: a.Workload.Name, Incident: a.Incident, Summary: a.Summary(), Message: a.Message}
	if a.Kind.OfIncident() || a.Kind == Blind || a.Kind == Sighted {
		onset := a.Onset.UTC()
		d.Onset = &onset
	}
	switch a.Kind {
	case Page:
		d.Decision = decisionOf(a.Decision)
		d.RunbookURL = a.RunbookURL
		d.Cause = causeOf(a.Cause)
		d.Evidence = a.Evidence.details()
	case Drift:
		d.Cause = causeOf(a.Cause)
	case Change:
		d.Cause, d.Plan, d.User = causeOf(a.Cause), planOf(a.Plan), a.User
	case Rollback, RollbackFailed, RollbackUnverified:
		d.Plan = planOf(a.Plan)
	}
	if a.Kind.OfIncident() {
		d.ErrorRatio, d.RequestRate, d.FailureCodes = round(a.Ratio, 4), round(a.Requests, 3), a.FailureCodes
		d.FailingAs = failingAs(a.FailureCodes, a.FailedBy)
	}
	return d
}

// MarshalJSON renders the documented shape: a page carries "cause" even
// when none was found (null); other kinds only when they have one.
func (d Details) MarshalJSON() ([]byte, error) {
	type plain Details
	if d.Kind != Page || d.Cause != nil {
		return json.Marshal(plain(d))
	}
	return json.Marshal(struct {
		plain
		Cause *Cause `json:"cause"`
	}{plain: plain(d)})
}

// MarshalJSON renders a as its Details.
func (a Action) MarshalJSON() ([]byte, error) { return json.Marshal(a.Details()) }

func causeOf(c *history.Change) *Cause {
	if c == nil {
		return nil
	}
	changes := ImageChanges(c.ImagesBefore, c.ImagesAfter)
	from, to := sides(changes)
	out := &Cause{Revision: c.Revision, At: c.At.UTC(), Manager: c.Manager, ViaHelm: ViaHelm(c.Manager),
		ImageChanged: c.ImageChanged, Images: to, Previous: from, Fields: c.Fields}
	if !single(c.ImagesBefore, c.ImagesAfter) {
		out.Changes = changes[:min(len(changes), maxImages)]
	}
	return out
}

func decisionOf(dec rollback.Decision) *Decision {
	d := &Decision{Rollback: dec.Rollback(), Reason: string(dec.Reason), Explanation: dec.Explain(),
		Plan: planOf(dec.Plan)}
	if dec.Plan != nil {
		d.DryRun = dec.Plan.DryRun
	}
	return d
}

func planOf(p *rollback.Plan) *Plan {
	if p == nil {
		return nil
	}
	changes := ImageChanges(p.FromImages, p.ToImages)
	from, to := sides(changes)
	out := &Plan{FromRevision: p.FromRevision, ToRevision: p.ToRevision, FromImages: from, ToImages: to,
		DryRun: p.DryRun}
	if !single(p.FromImages, p.ToImages) {
		out.Changes = changes[:min(len(changes), maxImages)]
	}
	return out
}

// sides lists the images before and after of at most maxImages changes;
// an added or removed container has no image on one side.
func sides(changes []ImageChange) (from, to []string) {
	from, to = []string{}, []string{}
	for _, c := range changes[:min(len(changes), maxImages)] {
		if c.From != "" {
			from = append(from, c.From)
		}
		if c.To != "" {
			to = append(to, c.To)
		}
	}
	return from, to
}

// round rounds v to digits decimals; it is nil when v is NaN or infinite,
// which JSON cannot carry: the rendering goes without it rather than
// failing to encode.
func round(v float64, digits int) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	p := math.Pow10(digits)
	r := math.Round(v*p) / p
	return &r
}
