package pagerduty

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pdapi "github.com/PagerDuty/go-pagerduty"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// Change events (docs/paging.md#change-events) tell PagerDuty of image
// changes and rollbacks: no alert, no notification, a line in the
// service's change timeline next to any incident on it. They have no
// dedup key; all of them are delivered, in order, in one lane that yields
// to every other event (PagerDuty.clear).

// changeLane is the lane of change events: a key no dedup key can be, as
// none holds a space.
const changeLane = "change events"

// changeEvent maps a Change action to its change event; ok is false when
// paging.pagerduty.change_events is off.
func (m mapper) changeEvent(a incident.Action) (e queuedEvent, ok bool, linkErr, err error) {
	e = queuedEvent{kind: a.Kind, incident: a.Incident}
	switch {
	case a.Workload == (workload.Ref{}):
		return e, false, nil, errors.New("change without a workload")
	case a.Cause == nil && a.Plan == nil:
		return e, false, nil, errors.New("change without the change or rollback it tells of")
	}
	details, err := m.changeDetails(a)
	if err != nil {
		return e, false, nil, err
	}
	ce := &pdapi.ChangeEvent{Payload: pdapi.ChangeEventPayload{
		Summary:       truncate(a.Summary(), maxSummary),
		Source:        cmp.Or(m.cfg.ClusterName, Source),
		CustomDetails: details,
	}}
	at := a.At
	if a.Cause != nil && !a.Cause.At.IsZero() {
		at = a.Cause.At // when the change was made: what a responder lines up with the errors
	}
	if !at.IsZero() {
		ce.Payload.Timestamp = at.UTC().Format(time.RFC3339)
	}
	links, linkErr := m.links(a)
	for _, l := range links {
		ce.Links = append(ce.Links, pdapi.ChangeEventLink{Href: l.Href, Text: l.Text})
	}
	e.change = ce
	return e, m.cfg.PagerDuty.ChangeEvents, linkErr, nil
}

// changeDetails are a change event's custom details: the action's Details
// and, when configured, the cluster's name.
func (m mapper) changeDetails(a incident.Action) (map[string]any, error) {
	b, err := json.Marshal(a.Details())
	if err != nil {
		return nil, fmt.Errorf("render change details: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("render change details: %w", err)
	}
	details := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		details[k] = v
	}
	if m.cfg.ClusterName != "" {
		details["cluster"] = m.cfg.ClusterName
	}
	return details, nil
}
