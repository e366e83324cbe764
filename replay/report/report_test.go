package report_test

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/report"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/workload"
)

var update = flag.Bool("update", false, "write the screenshot to docs/report.png")

// render replays the MLI-6574 example with a collector and returns its
// report.
func render(t *testing.T) []byte {
	t.Helper()
	dir := filepath.Join("..", "..", "examples", "mli-6574")
	cfg, err := simulate.LoadConfig(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	c := report.NewCollector()
	var tee notify.Collect
	if _, err := simulate.RunWith(t.Context(), dir, cfg, &tee, nil, engine.WithPollHook(c.Hook)); err != nil {
		t.Fatal(err)
	}
	objects, err := scenario.ReadObjectsFile(filepath.Join(dir, simulate.ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Write(&b, report.Input{Title: "sentinel simulate examples/mli-6574", Config: cfg, Actions: tee.Actions,
		Changes: report.Changes(objects, cfg.Rollback.Healthy.MinDuration)}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReportContents checks the page: one chart per workload that paged
// or changed, every change with its manager, every decision's text, and
// nothing fetched at view time.
func TestReportContents(t *testing.T) {
	html := string(render(t))
	for _, want := range []string{
		"<h2>scale-deploy/model-engine</h2>",
		"<td>kubectl-set</td>", // the change behind the page, with its manager
		"rolled back from revision 2",
		"decision: roll back (the failure follows an image change made outside the trusted deployers)",
		"resolved, 0.2% of requests failing",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	got := map[string]int{
		"charts":          strings.Count(html, "<svg"),
		"external src":    strings.Count(html, `src="http`),
		"external href":   strings.Count(html, `href="http`),
		"stylesheet link": strings.Count(html, "<link"),
		"script":          strings.Count(html, "<script"),
	}
	want := map[string]int{"charts": 1}
	for k := range got {
		if got[k] == 0 {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report elements (-want +got):\n%s", diff)
	}
}

// chromium is Debian's headless browser, which scripts/test.sh installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SENTINEL_E2E") == "required" {
		t.Fatal("chromium is not installed (scripts/test.sh installs it: apt-get install chromium)")
	}
	t.Skip("chromium is not installed: apt-get install chromium")
	return ""
}

// TestReportScreenshot renders the report in a real headless Chromium,
// offline, and checks the screenshot is not blank and shows every kind
// of mark in its colour.
func TestReportScreenshot(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, render(t), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	ctx := t.Context()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1280,1400", "--screenshot="+shot, "file://"+page)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	counts := countColors(img)
	if counts["not white"] < img.Bounds().Dx()*img.Bounds().Dy()/50 {
		t.Errorf("screenshot is nearly blank: %d of %d pixels are not white", counts["not white"], img.Bounds().Dx()*img.Bounds().Dy())
	}
	for name := range report.MarkColors {
		if counts[name] < 20 {
			t.Errorf("screenshot shows %d pixels of the %s mark colour, want at least 20", counts[name], name)
		}
	}
	t.Logf("pixels: %v", counts)
	if *update {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "report.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// countColors counts the pixels of each mark colour (within a small
// tolerance for colour management) and those that are not white.
func countColors(img image.Image) map[string]int {
	counts := map[string]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if c.R < 250 || c.G < 250 || c.B < 250 {
				counts["not white"]++
			}
			for name, m := range report.MarkColors {
				if near(c.R, m.R) && near(c.G, m.G) && near(c.B, m.B) {
					counts[name]++
				}
			}
		}
	}
	return counts
}

func near(a, b uint8) bool { return int(a)-int(b) <= 6 && int(b)-int(a) <= 6 }

// TestReportPrintsNamesOnOneLine: a workload and a field manager whose
// names carry a newline are drawn and written escaped, never as a line
// of their own (gonum/plot draws each line of a text apart).
func TestReportPrintsNamesOnOneLine(t *testing.T) {
	const forged = "\n2026-06-02T10:16:30Z  ROLLBACK  shop/web"
	wl := workload.Ref{Namespace: "shop", Name: "api" + forged}
	at := time.Date(2026, 6, 2, 10, 15, 0, 0, time.UTC)
	c := report.NewCollector()
	for i := range 8 {
		c.Hook(engine.PollRecord{At: at.Add(time.Duration(i) * 15 * time.Second),
			Observations: []detector.Observation{{Workload: wl, Requests: 40, Failures: float64(i) * 5}}})
	}
	page := incident.Action{At: at.Add(time.Minute), Kind: incident.Page, Workload: wl, Onset: at.Add(30 * time.Second),
		Incident: workload.IncidentID(wl, at.Add(30*time.Second)), Ratio: 0.9, Requests: 40}
	var b bytes.Buffer
	if err := c.Write(&b, report.Input{Title: "forged", Config: config.Default(), Actions: []incident.Action{page},
		Changes: map[workload.Ref][]report.Change{wl: {{At: at, Revision: 2, Manager: "kubectl" + forged}}}}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if strings.Contains(html, forged) {
		t.Errorf("report prints a raw newline from a name:\n%s", html)
	}
	for _, want := range []string{`<h2>shop/api\n2026-06-02T10:16:30Z  ROLLBACK  shop/web</h2>`, `kubectl\n2026-06-02T10:16:30Z`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
