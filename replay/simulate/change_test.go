package simulate

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/notify/pagerduty"
	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// The MLI-6574 replay with change events on (the README's): PagerDuty's
// timeline gets the 23:50 push, then the page, the rollback's update of
// the alert and the rollback's change event, then every later push and
// the manual undo, then the resolve. Each line is a valid alert or
// change event once given a routing key.
func TestChangeEventsOfTheIncident(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "mli-6574")
	cfg, _, err := ResolveConfig(dir, filepath.Join(dir, "change-events.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(t.Context(), dir, cfg, pagerduty.Writer{W: &out, Paging: cfg.Paging}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if ev["routing_key"] != "<secret>" {
			t.Errorf("routing key shown: %v", ev["routing_key"])
		}
		ev["routing_key"] = strings.Repeat("r", 32)
		body, _ := json.Marshal(ev)
		action, isAlert := ev["event_action"].(string)
		var errs []string
		if isAlert {
			_, errs = fakepd.Validate("application/json", body)
		} else {
			action = "change"
			_, errs = fakepd.ValidateChange("application/json", body)
		}
		if len(errs) > 0 {
			t.Errorf("not a valid %s event: %v\n%s", action, errs, l)
		}
		line := action
		if p, ok := ev["payload"].(map[string]any); ok {
			line += " " + p["timestamp"].(string) + " " + p["summary"].(string)
		}
		got = append(got, line)
	}
	const me = "scale-deploy/model-engine: "
	want := []string{
		"change 2026-04-24T23:50:00Z " + me + "image changed by kubectl-set to model-engine:04729cef…",
		"trigger 2026-04-24T23:51:15Z " + me + "97% of requests failing (5xx) since 23:50:45 after kubectl set image (kubectl-set) to model-engine:04729cef…; rolling back to model-engine:f395ffa6…",
		"trigger 2026-04-24T23:51:15Z " + me + "rolled back from revision 2 (model-engine:04729cef…) to revision 1 (model-engine:f395ffa6…)",
		"change 2026-04-24T23:51:15Z " + me + "sentinel rolled back from revision 2 (model-engine:04729cef…) to revision 1 (model-engine:f395ffa6…)",
		"change 2026-04-25T00:02:00Z " + me + "image changed by kubectl-set to model-engine:7a1e5c0b…",
		"change 2026-04-25T00:09:00Z " + me + "image changed by kubectl-set to model-engine:c2d94f71…",
		"change 2026-04-25T00:15:00Z " + me + "image changed by kubectl-set to model-engine:5e08b3a7…",
		"change 2026-04-25T00:22:00Z " + me + "image changed by kubectl-set to model-engine:9b6f2e14…",
		"change 2026-04-25T00:29:00Z " + me + "image changed by kubectl-set to model-engine:e4a17d3c…",
		"change 2026-04-25T00:48:00Z " + me + "image changed by kubectl to model-engine:f395ffa6…",
		"resolve",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Off (the defaults), the same replay sends no change event.
	out.Reset()
	def := config.Default()
	if _, err := Run(t.Context(), dir, def, pagerduty.Writer{W: &out, Paging: def.Paging}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 3 || strings.Contains(out.String(), `"action":"change"`) {
		t.Errorf("with change events off: %d events:\n%s", n, out.String())
	}
}
