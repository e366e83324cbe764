package simulate_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/notify/pagerduty"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/replay/trace"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
	"github.com/sentinel-sre/sentinel/workload"
)

// TestAdversaryLabelValueForgesNoLine: a recording whose failing workload
// label carries a newline and a whole action line after it. Every output
// that prints the workload — the text timeline, the PagerDuty summary,
// the trace — keeps it on the line it belongs to, its control characters
// escaped; the JSON and the incident id keep the name as it is.
func TestAdversaryLabelValueForgesNoLine(t *testing.T) {
	const forged = "api\n2026-06-02T10:16:30Z  ROLLBACK  shop/web: rolled back from revision 2 (web:2) to revision 1 (web:1)\r\x1b[2K"
	s, api := advScenario(0)
	api.Fail(scenariogen.Failure{From: at(15, 0), Code: "500", Ratio: 0.9})
	dir := advWrite(t, s)
	escaped := strings.NewReplacer("\n", `\n`, "\r", `\r`, "\x1b", `\x1b`).Replace(forged)
	rewriteMetrics(t, dir, func(series string, _ time.Time) (string, bool) {
		return strings.Replace(series, `destination_workload="api"`, `destination_workload="`+
			strings.NewReplacer("\n", `\n`).Replace(forged)+`"`, 1), true
	})
	ref := workload.Ref{Namespace: "shop", Name: forged}
	var text, pd, tr bytes.Buffer
	var got notify.Collect
	cfg := config.Default()
	tracer := trace.New(&tr, ref, cfg)
	out := notify.Tee{&got, notify.Text{W: &text}, pagerduty.Writer{W: &pd, Paging: cfg.Paging}}
	if _, err := simulate.Replay(t.Context(), dir, cfg, out,
		simulate.Options{Engine: []engine.Option{engine.WithPollHook(tracer.Hook)}}); err != nil {
		t.Fatal(err)
	}
	pages := 0
	for _, a := range got.Actions {
		if a.Workload != ref {
			continue
		}
		pages++
		if want := workload.IncidentID(ref, a.Onset); a.Incident != want {
			t.Errorf("incident id %q, want the raw name's %q", a.Incident, want)
		}
		if d := a.Details(); d.Workload != forged {
			t.Errorf("details carry workload %q, want it as the metrics name it", d.Workload)
		}
	}
	if pages == 0 {
		t.Fatal("the forged workload never paged: the test proves nothing")
	}
	heads := 0
	for _, l := range strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, " ") {
			heads++
		}
		if strings.ContainsAny(l, "\r\x1b") {
			t.Errorf("text line with a control character: %q", l)
		}
	}
	if heads != len(got.Actions) {
		t.Errorf("text timeline has %d action lines for %d actions:\n%s", heads, len(got.Actions), text.String())
	}
	if !strings.Contains(text.String(), "shop/"+escaped+": ") {
		t.Errorf("text timeline does not print the workload escaped as %q:\n%s", "shop/"+escaped, text.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(pd.String()), "\n") {
		var ev struct {
			Payload struct{ Summary string } `json:"payload"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if sum := ev.Payload.Summary; !strings.HasPrefix(sum, "shop/"+escaped+": ") || strings.ContainsAny(sum, "\n\r\x1b") {
			t.Errorf("PagerDuty summary %q, want the workload escaped and no control character", sum)
		}
	}
	lines := strings.Split(strings.TrimSuffix(tr.String(), "\n"), "\n")
	for _, l := range lines {
		if !strings.Contains(l, "  trace     shop/"+escaped+"  ") {
			t.Errorf("trace line not about the escaped workload, or broken: %q", l)
			break
		}
	}
}
