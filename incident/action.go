// Package incident is what sentinel tells the world: the actions it takes
// on an incident (page, rollback, resolve, notice), their one-line
// summaries for the person paged, and their JSON form. The simulator
// prints them and the pager sends them, so both say the same thing.
package incident

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
)

// Kind is what an action is.
type Kind string

const (
	Page     Kind = "page"
	Rollback Kind = "rollback"
	Resolve  Kind = "resolve"
	// Notice is anything else worth telling: a rollback that failed, or
	// that was decided in dry-run mode.
	Notice Kind = "notice"
)

// Action is one thing sentinel did, or would have done.
type Action struct {
	At       time.Time
	Kind     Kind
	Workload detector.Workload
	Incident string
	Onset    time.Time
	// Ratio and Requests (per second) are of the evaluation behind the
	// action.
	Ratio    float64
	Requests float64
	// FailureCodes is the configured pattern, for wording ("5xx").
	FailureCodes string
	// Cause is the linked change, nil when none was found (pages).
	Cause *history.Change
	// Decision is the rollback decision taken with the page.
	Decision rollback.Decision
	// Plan is the rollback carried out (rollbacks).
	Plan *rollback.Plan
	// Message explains a notice.
	Message string
	// RunbookURL is linked from every page.
	RunbookURL string
}

// Summary is the one line the on-call reads first.
func (a Action) Summary() string {
	w := a.Workload.String()
	if a.Workload == (detector.Workload{}) {
		w = "sentinel" // about sentinel itself, such as being blind
		if a.Kind == Resolve {
			return w + ": resolved: " + a.Message
		}
	}
	switch a.Kind {
	case Page:
		s := fmt.Sprintf("%s: %.0f%% of requests failing (%s) since %s", w, a.Ratio*100,
			codesWord(a.FailureCodes), a.Onset.UTC().Format("15:04:05"))
		if c := a.Cause; c != nil {
			s += " after " + describeChange(c)
		}
		switch {
		case a.Decision.Rollback && a.Decision.Plan != nil && a.Decision.Plan.DryRun:
			s += "; would roll back to " + ShortImages(a.Decision.Plan.ToImages) + " (dry-run)"
		case a.Decision.Rollback && a.Decision.Plan != nil:
			s += "; rolling back to " + ShortImages(a.Decision.Plan.ToImages)
		default:
			s += "; not rolled back: " + a.Decision.Explain()
		}
		return s
	case Rollback:
		p := a.Plan
		verb := "rolled back"
		if p.DryRun {
			verb = "would roll back (dry-run)"
		}
		return fmt.Sprintf("%s: %s from revision %d (%s) to revision %d (%s)", w, verb,
			p.FromRevision, ShortImages(p.FromImages), p.ToRevision, ShortImages(p.ToImages))
	case Resolve:
		return fmt.Sprintf("%s: resolved, %.1f%% of requests failing (%s) at %.1f req/s", w,
			a.Ratio*100, codesWord(a.FailureCodes), a.Requests)
	default:
		return w + ": " + a.Message
	}
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
	how := c.Manager
	switch {
	case c.Manager == "":
		how = "an unattributed change"
	case c.Manager == "kubectl-set" && c.ImageChanged:
		how = "kubectl set image (kubectl-set)"
	case c.Manager == "kubectl-set":
		how = "kubectl set (kubectl-set)"
	case ViaHelm(c.Manager):
		how = "a Helm release (" + c.Manager + ")"
	default:
		how = "a change by " + c.Manager
	}
	if c.ImageChanged {
		return how + " to " + ShortImages(c.ImagesAfter)
	}
	if len(c.Fields) > 0 {
		return how + " of " + strings.Join(c.Fields, ", ")
	}
	return how
}

// ViaHelm reports whether a field manager is Helm itself (Helm 3 writes as
// "helm"). Flux's helm-controller is not: it is a GitOps controller
// (rollback.GitOpsController).
func ViaHelm(manager string) bool { return manager == "helm" }

// ShortImages renders images compactly: the last path element, with a
// long tag or digest cut to its first eight characters, the way people
// quote commit hashes ("04729cef…").
func ShortImages(imgs []history.Image) string {
	parts := make([]string, 0, len(imgs))
	for _, i := range imgs {
		parts = append(parts, ShortImage(i.Image))
	}
	return strings.Join(parts, ", ")
}

// ShortImage renders one image compactly.
func ShortImage(img string) string {
	name := img[strings.LastIndex(img, "/")+1:]
	sep := strings.LastIndexAny(name, ":@")
	if sep < 0 {
		return name
	}
	if tag := name[sep+1:]; len(tag) > 12 {
		return name[:sep+1] + tag[:8] + "…"
	}
	return name
}

// jsonCause is the documented shape of a cause.
type jsonCause struct {
	Revision     int64     `json:"revision"`
	Manager      string    `json:"manager"`
	ViaHelm      bool      `json:"via_helm"`
	ImageChanged bool      `json:"image_changed"`
	Images       []string  `json:"images"`
	Previous     []string  `json:"previous_images"`
	At           time.Time `json:"at"`
	Fields       []string  `json:"changed"`
}

type jsonDecision struct {
	Rollback bool   `json:"rollback"`
	DryRun   bool   `json:"dry_run,omitempty"`
	Reason   string `json:"reason"`
}

// jsonAction is the line `sentinel simulate -o json` prints.
type jsonAction struct {
	At          time.Time     `json:"at"`
	Action      Kind          `json:"action"`
	Namespace   string        `json:"namespace"`
	Workload    string        `json:"workload"`
	Incident    string        `json:"incident"`
	Summary     string        `json:"summary"`
	Onset       *time.Time    `json:"onset,omitempty"`
	ErrorRatio  *float64      `json:"error_ratio,omitempty"`
	RequestRate *float64      `json:"request_rate,omitempty"`
	Cause       *jsonCause    `json:"cause"`
	Decision    *jsonDecision `json:"decision,omitempty"`
	RunbookURL  string        `json:"runbook_url,omitempty"`
	From        *int64        `json:"from_revision,omitempty"`
	To          *int64        `json:"to_revision,omitempty"`
	ToImages    []string      `json:"to_images,omitempty"`
	FromImages  []string      `json:"from_images,omitempty"`
	DryRun      bool          `json:"dry_run,omitempty"`
}

// MarshalJSON renders the documented JSON shape: at (RFC 3339, UTC),
// action, namespace, workload; a page adds error_ratio and cause (null or
// an object); a rollback adds from_revision, to_revision and to_images.
func (a Action) MarshalJSON() ([]byte, error) {
	j := jsonAction{
		At: a.At.UTC(), Action: a.Kind, Namespace: a.Workload.Namespace,
		Workload: a.Workload.Name, Incident: a.Incident, Summary: a.Summary(),
	}
	if a.Kind == Page || a.Kind == Resolve {
		onset := a.Onset.UTC()
		ratio, rate := round(a.Ratio, 4), round(a.Requests, 3)
		j.Onset, j.ErrorRatio, j.RequestRate = &onset, &ratio, &rate
	}
	if c := a.Cause; c != nil && a.Kind == Page {
		j.Cause = &jsonCause{Revision: c.Revision, Manager: c.Manager, ViaHelm: ViaHelm(c.Manager),
			ImageChanged: c.ImageChanged, Images: history.Names(c.ImagesAfter),
			Previous: history.Names(c.ImagesBefore), At: c.At.UTC(), Fields: c.Fields}
	}
	if a.Kind == Page {
		j.RunbookURL = a.RunbookURL
		j.Decision = &jsonDecision{Rollback: a.Decision.Rollback, Reason: string(a.Decision.Reason)}
		if a.Decision.Plan != nil {
			j.Decision.DryRun = a.Decision.Plan.DryRun
		}
	}
	if p := a.Plan; p != nil && a.Kind == Rollback {
		from, to := p.FromRevision, p.ToRevision
		j.From, j.To, j.ToImages, j.FromImages, j.DryRun = &from, &to, history.Names(p.ToImages), history.Names(p.FromImages), p.DryRun
	}
	if a.Kind != Page {
		// cause is part of the page's shape only
		type noCause struct {
			jsonAction
			Cause *jsonCause `json:"cause,omitempty"`
		}
		return json.Marshal(noCause{jsonAction: j})
	}
	return json.Marshal(j)
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
