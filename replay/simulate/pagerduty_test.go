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

// -o pagerduty prints exactly the events the daemon would send: each is a
// valid Events API v2 request once given a routing key, and the key never
// appears.
func TestPagerDutyPreviewOfTheIncident(t *testing.T) {
	var out bytes.Buffer
	cfg := config.Default()
	if _, err := Run(t.Context(), filepath.Join("..", "..", "examples", "mli-6574"), cfg,
		pagerduty.Writer{W: &out, Paging: cfg.Paging}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var actions []string
	keys := map[string]bool{}
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if ev["routing_key"] != "<secret>" {
			t.Errorf("routing key shown: %v", ev["routing_key"])
		}
		ev["routing_key"] = strings.Repeat("r", 32)
		body, _ := json.Marshal(ev)
		if _, errs := fakepd.Validate("application/json", body); len(errs) > 0 {
			t.Errorf("not a valid Events API v2 event: %v\n%s", errs, l)
		}
		actions = append(actions, ev["event_action"].(string))
		keys[ev["dedup_key"].(string)] = true
	}
	if diff := cmp.Diff([]string{"trigger", "trigger", "resolve"}, actions); diff != "" {
		t.Errorf("event actions, want page, rollback update, resolve (-want +got):\n%s", diff)
	}
	if len(keys) != 1 {
		t.Errorf("events under keys %v, want one key", keys)
	}
}
