// Package report writes a replay's timeline as one self-contained HTML
// file (`--report FILE.html` on simulate and backtest): per workload that
// paged or changed, the failure ratio and request rate drawn by
// gonum.org/v1/plot as inline SVG, every template change with who made
// it, the page, rollback and resolve marks in fixed colours (MarkColors),
// and the text of each decision. Nothing is fetched when it is viewed.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"slices"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/workload"
)

// Mark colours, one per kind of mark.
var (
	ColorPage     = color.RGBA{R: 220, G: 20, B: 60, A: 255}  // crimson
	ColorRollback = color.RGBA{R: 255, G: 140, B: 0, A: 255}  // dark orange
	ColorResolve  = color.RGBA{R: 34, G: 139, B: 34, A: 255}  // forest green
	ColorChange   = color.RGBA{R: 123, G: 50, B: 200, A: 255} // purple
	colorRatio    = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colorRequests = color.RGBA{R: 23, G: 190, B: 207, A: 255}
	colorLimit    = color.RGBA{R: 120, G: 120, B: 120, A: 255}
)

// MarkColors names the mark colours; they are fixed so that a test can
// find each mark in a screenshot.
var MarkColors = map[string]color.RGBA{
	"page": ColorPage, "rollback": ColorRollback, "resolve": ColorResolve, "change": ColorChange,
}

// point is one poll of one workload.
type point struct {
	at       int64 // unix seconds
	requests float32
	ratio    float32
}

// Collector keeps every workload's request rate and failure ratio per
// poll, from the engine's poll hook.
type Collector struct {
	series map[workload.Ref][]point
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{series: map[workload.Ref][]point{}}
}

// Hook is the engine's poll hook (engine.WithPollHook).
func (c *Collector) Hook(r engine.PollRecord) {
	for _, o := range r.Observations {
		c.series[o.Workload] = append(c.series[o.Workload],
			point{at: r.At.Unix(), requests: float32(o.Requests), ratio: float32(o.Ratio())})
	}
}

// Change is a template change as the report marks it.
type Change struct {
	At       time.Time
	Revision int64
	Manager  string // history.UnknownManager when no one can be named
	Fields   []string
	Images   string
}

// Changes works out the template changes in objects, and who made them,
// the way the engine's history does.
func Changes(objects []scenario.Object, healthyFor time.Duration) map[workload.Ref][]Change {
	tr := history.New(history.Options{HealthyFor: healthyFor})
	out := map[workload.Ref][]Change{}
	for _, o := range objects {
		switch {
		case o.ReplicaSet != nil:
			tr.ObserveReplicaSet(o.ReplicaSet)
		case o.Deployment != nil:
			c, ok := tr.ObserveDeployment(o.Deployment, o.At)
			if !ok {
				continue
			}
			out[c.Workload] = append(out[c.Workload], Change{At: c.At, Revision: c.Revision, Manager: c.By(),
				Fields: c.Fields, Images: incident.ShortImages(c.ImagesAfter)})
		}
	}
	return out
}

// Input is what a report shows.
type Input struct {
	Title   string
	Config  config.Config
	Actions []incident.Action
	Changes map[workload.Ref][]Change
}

// workloadView is one workload's section.
type workloadView struct {
	Name      string
	Chart     template.HTML
	Changes   []Change
	Decisions []decision
}

type decision struct {
	At, Kind, Text string
	Details        []string
}

// Write renders the report to w.
func (c *Collector) Write(w io.Writer, in Input) error {
	shown := map[workload.Ref]bool{}
	acts := map[workload.Ref][]incident.Action{}
	for _, a := range in.Actions {
		if a.Workload != (workload.Ref{}) {
			shown[a.Workload] = true
			acts[a.Workload] = append(acts[a.Workload], a)
		}
	}
	for wl := range in.Changes {
		shown[wl] = true
	}
	names := make([]workload.Ref, 0, len(shown))
	for wl := range shown {
		names = append(names, wl)
	}
	slices.SortFunc(names, workload.Compare)
	views := make([]workloadView, 0, len(names))
	for _, wl := range names {
		svg, err := c.chart(wl, in.Config.Detection, acts[wl], in.Changes[wl])
		if err != nil {
			return fmt.Errorf("draw %s: %w", wl, err)
		}
		views = append(views, workloadView{Name: wl.String(), Chart: template.HTML(svg), //nolint:gosec // SVG drawn by gonum/plot from our own data
			Changes: in.Changes[wl], Decisions: decisions(acts[wl])})
	}
	return page.Execute(w, struct {
		Title     string
		Threshold string
		Workloads []workloadView
	}{in.Title, fmt.Sprintf("%.0f%%", in.Config.Detection.Threshold*100), views})
}

func decisions(acts []incident.Action) []decision {
	out := make([]decision, 0, len(acts))
	for _, a := range acts {
		d := decision{At: a.At.UTC().Format(time.RFC3339), Kind: a.Kind.String(), Text: a.Summary()}
		if a.Kind == incident.Page {
			d.Details = append(d.Details, fmt.Sprintf("onset %s, %.1f%% failing at %.1f req/s",
				a.Onset.UTC().Format(time.RFC3339), a.Ratio*100, a.Requests))
			if c := a.Cause; c != nil {
				d.Details = append(d.Details, fmt.Sprintf("cause: revision %d at %s by %s", c.Revision, c.At.UTC().Format(time.RFC3339),
					workload.Printable(c.By())))
			} else {
				d.Details = append(d.Details, "cause: none blamed")
			}
			verb := "no rollback"
			if a.Decision.Rollback() {
				verb = "roll back"
			}
			d.Details = append(d.Details, fmt.Sprintf("decision: %s (%s)", verb, a.Decision.Reason.Explain()))
		}
		out = append(out, d)
	}
	return out
}

// page is the report's HTML; every name from outside is printed through
// workload.Printable.
var page = template.Must(template.New("report").Funcs(template.FuncMap{"printable": workload.Printable}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.k{font-weight:bold;text-transform:uppercase}.d{color:#555}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Failure ratio against the threshold ({{.Threshold}}) and request rate per poll. Vertical marks:
template change (purple, with its manager), page (crimson), rollback (orange), resolve (green).</p>
{{range .Workloads}}<section><h2>{{.Name}}</h2>
<div>{{.Chart}}</div>
{{if .Changes}}<table><tr><th>change</th><th>revision</th><th>by</th><th>what</th><th>images</th></tr>
{{range .Changes}}<tr><td>{{.At.UTC.Format "2006-01-02T15:04:05Z"}}</td><td>{{.Revision}}</td><td>{{printable .Manager}}</td><td>{{range $i, $f := .Fields}}{{if $i}}, {{end}}{{printable $f}}{{end}}</td><td>{{printable .Images}}</td></tr>
{{end}}</table>{{end}}
{{if .Decisions}}<table><tr><th>time</th><th>action</th><th>decision</th></tr>
{{range .Decisions}}<tr><td>{{.At}}</td><td class="k">{{.Kind}}</td><td>{{.Text}}{{range .Details}}<div class="d">{{.}}</div>{{end}}</td></tr>
{{end}}</table>{{end}}
</section>
{{else}}<p>No workload paged or changed.</p>{{end}}
</body></html>
`))

// writeSVG renders a canvas.
func writeSVG(wt io.WriterTo) (string, error) {
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", err
	}
	return b.String(), nil
}
