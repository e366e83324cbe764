package pagerduty

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	pdapi "github.com/PagerDuty/go-pagerduty"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// Limits of the Events API v2.
const (
	maxSummary  = 1024
	maxDedupKey = 255
)

// Source is the payload.source of every event.
const Source = "sentinel"

// Severities of the low-urgency events. With a service's urgency set to
// "based on alert severity", warning and info are low urgency.
const (
	driftSeverity = "info"
	blindSeverity = "warning"
)

// queuedEvent is an event waiting for delivery: an alert event, or a
// change event when change is set. It never holds the routing key.
type queuedEvent struct {
	// kind is what the event reports: the label of the pager's metrics.
	kind     incident.Kind
	incident string
	event    pdapi.V2Event
	change   *pdapi.ChangeEvent
	// then takes the event's place in its lane once PagerDuty accepted
	// it: the resolve of a drift notice.
	then *queuedEvent
	// seq orders events across lanes, oldest first.
	seq uint64
}

// resolves reports whether e resolves its alert.
func (e queuedEvent) resolves() bool { return e.change == nil && e.event.Action == "resolve" }

// action is e's event_action, or "change" for a change event.
func (e queuedEvent) action() string {
	if e.change != nil {
		return "change"
	}
	return e.event.Action
}

// key is the lane e is delivered in: its dedup key, or changeLane.
func (e queuedEvent) key() string {
	if e.change != nil {
		return changeLane
	}
	return e.event.DedupKey
}

// body is what is posted for e, without the routing key.
func (e queuedEvent) body() any {
	if e.change != nil {
		return *e.change
	}
	return e.event
}

// mapper turns actions into events: pure, no I/O.
type mapper struct {
	cfg       config.Paging
	dashboard *template.Template
}

// event maps an action to its event; ok is false when the action is not
// sent (a drift or blind notice whose option is off). linkErr says why
// the dashboard link was left out; the event is sent without it.
func (m mapper) event(a incident.Action) (e queuedEvent, ok bool, linkErr, err error) {
	if a.Kind == incident.Change {
		return m.changeEvent(a)
	}
	e = queuedEvent{kind: a.Kind, incident: a.Incident,
		event: pdapi.V2Event{Action: "trigger", Client: Source}}
	pd := m.cfg.PagerDuty
	severity, class := pd.Severity, "error_ratio"
	switch k := a.Kind; {
	case k.OfIncident() && a.Incident == "":
		return e, false, nil, fmt.Errorf("%s action without an incident id", k)
	case k == incident.Rollback && a.Plan == nil:
		return e, false, nil, errors.New("rollback without a plan")
	case k == incident.Resolve && a.Message != "":
		// Resolved for another reason than its errors ending (the
		// Deployment was deleted or scaled to zero): the resolve carries
		// a payload saying why, as Alertmanager's resolves carry theirs,
		// so the alert's log tells the on-call.
		e.event.Action, e.event.DedupKey, ok = "resolve", IncidentDedupKey(a.Incident), true
	case k == incident.Resolve:
		e.event.Action, e.event.DedupKey = "resolve", IncidentDedupKey(a.Incident)
		return e, true, nil, nil
	case k == incident.Sighted:
		if a.Onset.IsZero() {
			return e, false, nil, errors.New("end of blindness without its onset")
		}
		e.event.Action, e.event.DedupKey = "resolve", BlindDedupKey(a.Onset)
		return e, pd.PageWhenBlind, nil, nil
	case k.OfIncident():
		// Rollback and notices are triggers with the page's dedup key:
		// PagerDuty adds them to the open alert instead of paging again,
		// so the on-call sees what sentinel did in the alert's log.
		e.event.DedupKey, ok = IncidentDedupKey(a.Incident), true
	case k == incident.Drift, k == incident.BreakGlass:
		if a.Workload == (workload.Ref{}) {
			return e, false, nil, fmt.Errorf("%s notice without a workload", k)
		}
		e.event.DedupKey, severity, class = DriftDedupKey(a), driftSeverity, "image_drift"
		if k == incident.BreakGlass {
			e.event.DedupKey, class = "sentinel/break-glass/"+strings.TrimPrefix(e.event.DedupKey, "sentinel/drift/"), "break_glass"
		}
		// Nothing resolves such a notice later: resolve it as soon as it
		// is in PagerDuty's log (docs/paging.md#dedup-keys).
		e.then = &queuedEvent{kind: incident.Resolve, event: pdapi.V2Event{
			Action: "resolve", Client: Source, DedupKey: e.event.DedupKey}}
		ok = pd.DriftNotices || k == incident.BreakGlass
	case k == incident.Blind:
		e.event.DedupKey, severity, class = BlindDedupKey(cmp.Or(a.Onset, a.At)), blindSeverity, "metrics_blind"
		ok = pd.PageWhenBlind
	default:
		return e, false, nil, fmt.Errorf("unknown action kind %s", k)
	}
	e.event.Payload = &pdapi.V2Payload{
		Summary:   truncate(a.Summary(), maxSummary),
		Source:    Source,
		Severity:  severity,
		Component: a.Workload.Name,
		Group:     a.Workload.Namespace,
		Class:     class,
		Details:   a.Details(),
	}
	if !a.At.IsZero() {
		e.event.Payload.Timestamp = a.At.UTC().Format(time.RFC3339)
	}
	links, linkErr := m.links(a)
	for _, l := range links {
		e.event.Links = append(e.event.Links, l)
	}
	return e, ok, linkErr, nil
}

// link is an entry of an event's links.
type link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// links are the runbook and dashboard links of a's event. A dashboard
// template that fails for this workload leaves its link out; the error
// says why, for the caller to log.
func (m mapper) links(a incident.Action) ([]link, error) {
	var links []link
	if u := cmp.Or(a.RunbookURL, m.cfg.RunbookURL); u != "" {
		links = append(links, link{Href: u, Text: "Runbook"})
	}
	if m.dashboard == nil || a.Workload == (workload.Ref{}) {
		return links, nil
	}
	var b strings.Builder
	if err := m.dashboard.Execute(&b, dashboardData{Namespace: a.Workload.Namespace, Workload: a.Workload.Name}); err != nil {
		return links, fmt.Errorf("render paging.dashboard_url: %w", err)
	}
	return append(links, link{Href: b.String(), Text: "Dashboard: " + a.Workload.String()}), nil
}

type dashboardData struct{ Namespace, Workload string }

// parseDashboard parses the dashboard URL template and tries it once, so
// a template that cannot render fails at startup, not in a page. The
// trial cannot catch everything ({{slice .Workload 0 4}} fails only on
// shorter names): such a page goes out without the link (links).
func parseDashboard(s string) (*template.Template, error) {
	if s == "" {
		return nil, nil
	}
	t, err := template.New("dashboard_url").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, dashboardData{Namespace: "ns", Workload: "name"}); err != nil {
		return nil, fmt.Errorf("only {{.Namespace}} and {{.Workload}} can be used: %v", err)
	}
	return t, nil
}

// IncidentDedupKey is the dedup key of every event of an incident:
// "sentinel/" and the incident id (workload.IncidentID, which the same
// workload and onset always give), so replicas and restarts agree on it.
func IncidentDedupKey(incidentID string) string {
	return limitKey("sentinel/" + incidentID)
}

// DriftDedupKey keys a drift notice by its workload and the revision the
// change created (else the change's time, else the action's), so replicas
// reporting the same change update one alert.
func DriftDedupKey(a incident.Action) string {
	at := "@" + a.At.UTC().Format(time.RFC3339)
	if c := a.Cause; c != nil && c.Revision > 0 {
		at = fmt.Sprintf("@r%d", c.Revision)
	} else if c != nil && !c.At.IsZero() {
		at = "@" + c.At.UTC().Format(time.RFC3339)
	}
	return limitKey("sentinel/drift/" + a.Workload.Key() + at)
}

// BlindDedupKey keys a blind notice by the first poll without an answer.
func BlindDedupKey(onset time.Time) string {
	return "sentinel/blind@" + onset.UTC().Format(time.RFC3339)
}

// limitKey keeps a dedup key within PagerDuty's 255 characters: a longer
// key is cut and ends in a hash of the whole, so it stays unique and
// stable.
func limitKey(k string) string {
	if len(k) <= maxDedupKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	h := hex.EncodeToString(sum[:8])
	return cut(k, maxDedupKey-len(h)-1) + "~" + h
}

// truncate cuts s to at most max bytes (so also max characters) on a
// character boundary, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	return cut(s, max-len(ellipsis)) + ellipsis
}

// cut returns the longest prefix of s of at most n bytes that ends on a
// character boundary.
func cut(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Preview returns the Events API v2 event the pager would send for a,
// with the routing key shown as <secret>; ok is false when a is not sent
// (a drift or blind notice whose option is off). `sentinel simulate -o
// pagerduty` prints these, so a user sees what the on-call would receive.
// As in the daemon, a dashboard link that cannot be rendered for a's
// workload is left out. The resolve that follows a drift notice's
// trigger is not shown.
// A change (incident.Change) has no such event: see PreviewBody.
func Preview(paging config.Paging, a incident.Action) (ev pdapi.V2Event, ok bool, err error) {
	e, ok, err := preview(paging, a)
	if err == nil && e.change != nil {
		return ev, false, fmt.Errorf("%s action: a change event, not an alert event", a.Kind)
	}
	return e.event, ok, err
}

// PreviewBody is Preview for any action: the alert event or, for a
// change, the change event the pager would post.
func PreviewBody(paging config.Paging, a incident.Action) (body any, ok bool, err error) {
	e, ok, err := preview(paging, a)
	return e.body(), ok, err
}

func preview(paging config.Paging, a incident.Action) (queuedEvent, bool, error) {
	dashboard, err := parseDashboard(paging.DashboardURL)
	if err != nil {
		return queuedEvent{}, false, fmt.Errorf("paging.dashboard_url: %w", err)
	}
	e, ok, _, err := mapper{cfg: paging, dashboard: dashboard}.event(a)
	hidden := config.Secret("").String()
	e.event.RoutingKey = hidden
	if e.change != nil {
		ce := *e.change
		ce.RoutingKey = hidden
		e.change = &ce
	}
	return e, ok, err
}
