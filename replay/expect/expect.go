// Package expect reads a scenario's expected.json — what a correct
// sentinel does with the scenario (docs/scenarios.md) — and checks the
// actions of a replay against it, so an incident kept as a scenario is a
// regression test (`sentinel simulate --expect`, and the replays of
// examples/ in simulate's tests).
package expect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// File is the name of the expectation in a scenario directory.
const File = "expected.json"

// Expectation is the content of an expected.json.
type Expectation struct {
	// Onset is when the scenario's failure began; informative.
	Onset time.Time `json:"onset"`
	Must  []Must    `json:"must"`
	Never []Never   `json:"never"`
}

// Must is an action that has to happen: Count times exactly (at least
// once when Count is 0), each at or before By when given, and for a
// rollback, to a set of images that includes ToImage when given.
type Must struct {
	Action   string     `json:"action"`
	Workload string     `json:"workload"`
	By       *time.Time `json:"by,omitempty"`
	Count    int        `json:"count,omitempty"`
	ToImage  string     `json:"to_image,omitempty"`
}

// Never is an action that must not happen at all.
type Never struct {
	Action   string `json:"action"`
	Workload string `json:"workload"`
}

// ReadFile reads and checks an expected.json. Unknown keys are errors, so
// a misspelt rule cannot pass silently; every problem is reported with
// its path (must[2]: ...).
func ReadFile(path string) (Expectation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Expectation{}, fmt.Errorf("read expectation: %w", err)
	}
	var e Expectation
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Expectation{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := e.Validate(); err != nil {
		return Expectation{}, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// Validate reports every invalid rule with its path.
func (e Expectation) Validate() error {
	var errs []error
	kinds := []string{incident.Page.Action(), incident.Rollback.Action(), incident.Resolve.Action(), incident.Drift.Action()}
	check := func(where string, k string, w string) {
		if !slices.Contains(kinds, k) {
			errs = append(errs, fmt.Errorf("%s: action %q: want one of %v", where, k, kinds))
		}
		if ns, name, ok := strings.Cut(w, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			errs = append(errs, fmt.Errorf("%s: workload %q: want namespace/name", where, w))
		}
	}
	for i, m := range e.Must {
		where := fmt.Sprintf("must[%d]", i)
		check(where, m.Action, m.Workload)
		if m.Count < 0 {
			errs = append(errs, fmt.Errorf("%s: count %d: must not be negative", where, m.Count))
		}
		if m.ToImage != "" && m.Action != incident.Rollback.Action() {
			errs = append(errs, fmt.Errorf("%s: to_image applies to rollbacks only", where))
		}
	}
	for i, n := range e.Never {
		check(fmt.Sprintf("never[%d]", i), n.Action, n.Workload)
	}
	return errors.Join(errs...)
}

// Violations lists every way actions break e, one line each; none when
// they meet it.
func (e Expectation) Violations(actions []incident.Action) []string {
	var out []string
	for i, m := range e.Must {
		var matched []incident.Action
		for _, a := range actions {
			if a.Kind.Action() != m.Action || a.Workload.Key() != m.Workload {
				continue
			}
			if m.ToImage != "" && !rollsBackTo(a, m.ToImage) {
				continue
			}
			matched = append(matched, a)
		}
		what := fmt.Sprintf("must[%d]: %s %s", i, m.Action, workload.Printable(m.Workload))
		if m.ToImage != "" {
			what += " to " + m.ToImage
		}
		switch {
		case m.Count == 0 && len(matched) == 0:
			out = append(out, fmt.Sprintf("%s: never happened", what))
		case m.Count > 0 && len(matched) != m.Count:
			out = append(out, fmt.Sprintf("%s: happened %d %s, want %d%s", what, len(matched), times(len(matched)), m.Count, timesOf(matched)))
		}
		if m.By != nil {
			for _, a := range matched {
				if a.At.After(*m.By) {
					out = append(out, fmt.Sprintf("%s: at %s, after the deadline %s", what,
						a.At.UTC().Format(time.RFC3339), m.By.UTC().Format(time.RFC3339)))
				}
			}
		}
	}
	for i, n := range e.Never {
		for _, a := range actions {
			if a.Kind.Action() == n.Action && a.Workload.Key() == n.Workload {
				out = append(out, fmt.Sprintf("never[%d]: %s %s happened at %s: %s", i, n.Action, workload.Printable(n.Workload),
					a.At.UTC().Format(time.RFC3339), a.Summary()))
			}
		}
	}
	return out
}

func times(n int) string {
	if n == 1 {
		return "time"
	}
	return "times"
}

func rollsBackTo(a incident.Action, image string) bool {
	if a.Plan == nil {
		return false
	}
	return slices.ContainsFunc(a.Plan.ToImages, func(i history.Image) bool { return i.Image == image })
}

func timesOf(actions []incident.Action) string {
	if len(actions) == 0 {
		return ""
	}
	ts := make([]string, len(actions))
	for i, a := range actions {
		ts[i] = a.At.UTC().Format(time.RFC3339)
	}
	return " (at " + strings.Join(ts, ", ") + ")"
}
