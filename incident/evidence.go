package incident

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/history"
)

// Evidence explains a page: what was judged, which revision failed, when
// the errors began, and why the change was or was not blamed.
type Evidence struct {
	// Basis is what the detector judged (see detector.Basis).
	Basis detector.Basis
	// Began is when the errors began (see evidence.Blame); when they began
	// again (a reopened incident), IncidentBegan is when the incident's
	// did, else it is zero.
	Began, IncidentBegan time.Time
	// FailingRevision is the revision that failed: the one whose pods
	// failed first (FailedFirst, per-revision metrics), else, without
	// them, the one the blamed change created, unless the template
	// changed since; 0 when unknown.
	FailingRevision int64
	FailedFirst     bool
	// PerRevision is true when the metrics said which pods served.
	PerRevision bool
	// Revisions are the revisions that served at the page, newest first.
	Revisions []RevisionRatio
	// Unlabelled is the request rate without a revision label while other
	// traffic had one; Unresolved are the revision labels that name no
	// ReplicaSet sentinel knows (gone).
	Unlabelled float64
	Unresolved []LabelRatio
	// Whole says why the revision rule was not applied although the
	// newest revision's pods failed (evidence.Whole).
	Whole evidence.Whole
	// WorkloadRatio is the workload's failure ratio as a whole.
	WorkloadRatio float64
	// Blame is how the cause was chosen; Why says it in a sentence.
	Blame evidence.Rule
	Why   string
	// Later are changes made after the incident's errors began: never
	// blamed.
	Later []history.Change
	// Reopened: the incident had resolved at ResolvedAt and fails again.
	Reopened   bool
	ResolvedAt time.Time
}

// RevisionRatio is one revision's traffic at the page; a ratio or rate
// that is not a finite number is left out.
type RevisionRatio struct {
	Revision   int64    `json:"revision"`
	ReplicaSet string   `json:"replicaset"`
	ErrorRatio *float64 `json:"error_ratio,omitempty"`
	Requests   *float64 `json:"request_rate,omitempty"`
}

// LabelRatio is the traffic of a revision label that names no ReplicaSet
// sentinel knows; a ratio or rate that is not a finite number is left out.
type LabelRatio struct {
	Label      string   `json:"label"`
	ErrorRatio *float64 `json:"error_ratio,omitempty"`
	Requests   *float64 `json:"request_rate,omitempty"`
}

// NewEvidence gathers a page's evidence from its finding, the workload's
// evidence at the poll and the blame verdict.
func NewEvidence(f detector.Finding, ev evidence.Workload, b evidence.Blame) *Evidence {
	e := &Evidence{Basis: f.Basis, Began: b.Began, PerRevision: len(ev.Revisions) > 0,
		WorkloadRatio: ev.Observed.Ratio(), Blame: b.Rule, Why: b.Explain(), Later: b.Later,
		Reopened: f.Reopened, ResolvedAt: f.ResolvedAt}
	if b.Again {
		e.IncidentBegan = b.Since
	}
	switch {
	case b.HasFailing:
		e.FailingRevision, e.FailedFirst = b.Failing.Revision, true
	case b.Cause != nil && !e.PerRevision && len(ev.Unresolved) == 0 && len(b.Later) == 0:
		e.FailingRevision = b.Cause.Revision
	}
	e.Unlabelled, e.Whole = ev.Unlabelled, ev.Whole
	for _, rt := range ev.Unresolved {
		e.Unresolved = append(e.Unresolved, LabelRatio{Label: rt.Revision, ErrorRatio: round(rt.Ratio(), 4),
			Requests: round(rt.Requests, 3)})
	}
	for _, r := range ev.Revisions {
		e.Revisions = append(e.Revisions, RevisionRatio{Revision: r.Revision, ReplicaSet: r.Name,
			ErrorRatio: round(r.Ratio(), 4), Requests: round(r.Requests, 3)})
	}
	return e
}

// What says in a phrase what failed: "revision 2 fails 95% while revision
// 1 serves 1%", "stopped serving", or "the workload (revision 2) fails".
func (e *Evidence) What() string {
	if e == nil {
		return ""
	}
	switch {
	case e.Basis == detector.BasisStopped:
		return "stopped serving: no replica available after a template change"
	case e.PerRevision || len(e.Unresolved) > 0:
		return e.perRevision()
	case e.FailingRevision != 0:
		return fmt.Sprintf("revision %d (no per-revision metrics: judged as a whole)", e.FailingRevision)
	}
	return "the workload as a whole (no per-revision metrics)"
}

// perRevision says what failed when the metrics carry revision labels:
// "revision 2 failed first (revision 2 96% at 28.7 req/s, 10.2 req/s
// without a revision label); judged as a whole: old pods unlabelled, …".
// A revision is named as failing only when its own pods did.
func (e *Evidence) perRevision() string {
	var parts []string
	for _, r := range e.Revisions {
		parts = append(parts, fmt.Sprintf("revision %d %.0f%% at %.1f req/s", r.Revision,
			deref(r.ErrorRatio)*100, deref(r.Requests)))
	}
	if e.Unlabelled > 0 {
		parts = append(parts, fmt.Sprintf("%.1f req/s without a revision label", e.Unlabelled))
	}
	for _, u := range e.Unresolved {
		parts = append(parts, fmt.Sprintf("labels name ReplicaSet %s, which is gone, %.0f%% at %.1f req/s", u.Label,
			deref(u.ErrorRatio)*100, deref(u.Requests)))
	}
	var s string
	switch {
	case e.Basis == detector.BasisRevision:
		s = fmt.Sprintf("revision %d fails while the older pods are healthy", e.FailingRevision)
	case e.FailedFirst:
		s = fmt.Sprintf("revision %d failed first", e.FailingRevision)
	default:
		s = "the workload as a whole"
	}
	s += " (" + strings.Join(parts, ", ") + ")"
	if e.Whole != "" {
		s += "; judged as a whole: " + e.Whole.Explain()
	}
	return s
}

func deref(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// EvidenceDetails is the rendering of a page's evidence (Details).
type EvidenceDetails struct {
	Basis       string    `json:"basis"`
	ErrorsBegan time.Time `json:"errors_began"`
	// IncidentErrorsBegan is when the incident's errors began, when those
	// of errors_began began again; changes after it are never blamed.
	IncidentErrorsBegan *time.Time      `json:"incident_errors_began,omitempty"`
	FailingRevision     int64           `json:"failing_revision,omitempty"`
	PerRevision         bool            `json:"per_revision"`
	Revisions           []RevisionRatio `json:"revisions,omitempty"`
	// UnlabelledRate, UnresolvedRevisions and RevisionRuleNotApplied are
	// Evidence's Unlabelled, Unresolved and Whole.
	UnlabelledRate         *float64     `json:"unlabelled_request_rate,omitempty"`
	UnresolvedRevisions    []LabelRatio `json:"unresolved_revisions,omitempty"`
	RevisionRuleNotApplied string       `json:"revision_rule_not_applied,omitempty"`
	WorkloadRatio          *float64     `json:"workload_error_ratio,omitempty"`
	Blame                  string       `json:"blame"`
	Why                    string       `json:"why"`
	Later                  []jsonLater  `json:"changes_after_errors_began,omitempty"`
	Reopened               bool         `json:"reopened,omitempty"`
	ResolvedAt             *time.Time   `json:"resolved_at,omitempty"`
}

type jsonLater struct {
	Revision     int64     `json:"revision"`
	Manager      string    `json:"manager"`
	ImageChanged bool      `json:"image_changed"`
	At           time.Time `json:"at"`
}

func (e *Evidence) details() *EvidenceDetails {
	if e == nil {
		return nil
	}
	basis := string(e.Basis)
	if basis == "" {
		basis = "workload"
	}
	j := &EvidenceDetails{Basis: basis, ErrorsBegan: e.Began.UTC(), FailingRevision: e.FailingRevision,
		PerRevision: e.PerRevision, Revisions: e.Revisions, WorkloadRatio: round(e.WorkloadRatio, 4),
		Blame: string(e.Blame), Why: e.Why, Reopened: e.Reopened, UnresolvedRevisions: e.Unresolved,
		RevisionRuleNotApplied: string(e.Whole)}
	if e.Unlabelled > 0 {
		j.UnlabelledRate = round(e.Unlabelled, 3)
	}
	for _, c := range e.Later {
		j.Later = append(j.Later, jsonLater{Revision: c.Revision, Manager: c.Manager, ImageChanged: c.ImageChanged, At: c.At.UTC()})
	}
	if e.Reopened {
		r := e.ResolvedAt.UTC()
		j.ResolvedAt = &r
	}
	if !e.IncidentBegan.IsZero() {
		b := e.IncidentBegan.UTC()
		j.IncidentErrorsBegan = &b
	}
	return j
}

// failing says what fails, since when and after what, for a page's
// summary: "96% of revision 2's requests failing (5xx) since 10:20:45
// after kubectl set image …". "Since" is when the errors began (the
// detector's onset without evidence); a reopened incident says so.
func (e *Evidence) failing(a Action) string {
	what, since := "requests", a.Onset
	if e != nil {
		if !e.Began.IsZero() {
			since = e.Began
		}
		if e.Basis == detector.BasisRevision && e.FailingRevision != 0 {
			what = fmt.Sprintf("revision %d's requests", e.FailingRevision)
		}
	}
	s := fmt.Sprintf("%.0f%% of %s failing (%s) since %s", a.Ratio*100, what, a.failureWord(),
		since.UTC().Format("15:04:05"))
	if e != nil && e.Basis == detector.BasisStopped {
		s = "stopped serving (no replica available) since " + since.UTC().Format("15:04:05")
	}
	if c := a.Cause; c != nil {
		s += " after " + describeChange(c)
	}
	if e != nil && e.Reopened {
		s += ", failing again since the incident resolved at " + e.ResolvedAt.UTC().Format("15:04:05")
	}
	return s
}
