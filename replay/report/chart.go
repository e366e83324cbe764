package report

import (
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// Chart size.
const (
	chartWidth  = 900
	chartHeight = 420
	markWidth   = 3 // points: wide enough that the mark colour is exact somewhere
)

// chart draws a workload's ratio and request-rate panels, one above the
// other on a shared time axis, with the marks, as SVG.
func (c *Collector) chart(wl workload.Ref, d config.Detection, acts []incident.Action, changes []Change) (string, error) {
	pts := c.series[wl]
	ratio, requests := plot.New(), plot.New()
	ratio.Title.Text = wl.String()
	ratio.Y.Label.Text = "failure ratio"
	ratio.Y.Min, ratio.Y.Max = 0, 1
	requests.Y.Label.Text = "requests/s"
	requests.X.Label.Text = "time (UTC)"
	maxReq := 1.0
	for _, p := range pts {
		maxReq = math.Max(maxReq, float64(p.requests))
	}
	requests.Y.Min, requests.Y.Max = 0, maxReq*1.1
	for _, p := range []*plot.Plot{ratio, requests} {
		p.X.Tick.Marker = plot.TimeTicks{Format: "01-02 15:04", Time: plot.UTCUnixTime}
		p.Add(plotter.NewGrid())
	}
	step := int64(d.PollInterval / time.Second)
	for _, run := range runs(pts, step) {
		if err := addLine(ratio, run, func(p point) float64 { return float64(p.ratio) }, colorRatio, 1.5, nil); err != nil {
			return "", err
		}
		if err := addLine(requests, run, func(p point) float64 { return float64(p.requests) }, colorRequests, 1.5, nil); err != nil {
			return "", err
		}
	}
	lo, hi := span(pts, acts, changes)
	threshold := []point{{at: lo}, {at: hi}}
	if err := addLine(ratio, threshold, func(point) float64 { return d.Threshold }, colorLimit, 1,
		[]vg.Length{vg.Points(4), vg.Points(3)}); err != nil {
		return "", err
	}
	for _, p := range []*plot.Plot{ratio, requests} {
		p.X.Min, p.X.Max = float64(lo), float64(hi)
		for _, ch := range changes {
			if err := addMark(p, ch.At, ColorChange, markWidth); err != nil {
				return "", err
			}
		}
		// Rollbacks first and wider: a rollback decided with its page
		// shows as an orange band around the page's crimson line.
		for _, k := range []incident.Kind{incident.Resolve, incident.Rollback, incident.Page} {
			for _, a := range acts {
				if a.Kind == k {
					if err := addMark(p, a.At, markStyle[k].color, markStyle[k].width); err != nil {
						return "", err
					}
				}
			}
		}
	}
	if err := addManagers(ratio, changes); err != nil {
		return "", err
	}
	// Fonts embedded, so the page fetches nothing when viewed.
	canvas := vgsvg.NewWith(vgsvg.UseWH(vg.Points(chartWidth), vg.Points(chartHeight)), vgsvg.EmbedFonts(true))
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4),
		PadRight: vg.Points(8), PadY: vg.Points(6)}
	cells := plot.Align([][]*plot.Plot{{ratio}, {requests}}, tiles, dc)
	ratio.Draw(cells[0][0])
	requests.Draw(cells[1][0])
	return writeSVG(canvas)
}

// runs splits points into runs of consecutive polls, so a gap (no data)
// shows as a gap rather than a line across it.
func runs(pts []point, step int64) [][]point {
	var out [][]point
	start := 0
	for i := 1; i <= len(pts); i++ {
		if i == len(pts) || (step > 0 && pts[i].at-pts[i-1].at > step) {
			out = append(out, pts[start:i])
			start = i
		}
	}
	return out
}

// span is the time range shown: the points, the actions and the changes.
func span(pts []point, acts []incident.Action, changes []Change) (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	see := func(t int64) { lo, hi = min(lo, t), max(hi, t) }
	for _, p := range pts {
		see(p.at)
	}
	for _, a := range acts {
		see(a.At.Unix())
	}
	for _, ch := range changes {
		see(ch.At.Unix())
	}
	if lo > hi {
		return 0, 1
	}
	if lo == hi {
		hi = lo + 1
	}
	return lo, hi
}

func addLine(p *plot.Plot, pts []point, y func(point) float64, col color.Color, width float64, dashes []vg.Length) error {
	xys := make(plotter.XYs, len(pts))
	for i, pt := range pts {
		xys[i] = plotter.XY{X: float64(pt.at), Y: y(pt)}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("line: %w", err)
	}
	l.Color, l.Width, l.Dashes = col, vg.Points(width), dashes
	p.Add(l)
	return nil
}

// markStyle is how each action is marked.
var markStyle = map[incident.Kind]struct {
	color color.RGBA
	width float64
}{
	incident.Page:     {ColorPage, markWidth},
	incident.Rollback: {ColorRollback, 3 * markWidth},
	incident.Resolve:  {ColorResolve, markWidth},
}

// addManagers writes each change's manager beside its mark, at the top
// of the panel.
func addManagers(p *plot.Plot, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	xyl := plotter.XYLabels{XYs: make(plotter.XYs, len(changes)), Labels: make([]string, len(changes))}
	for i, ch := range changes {
		xyl.XYs[i] = plotter.XY{X: float64(ch.At.Unix()), Y: p.Y.Max * 0.93}
		xyl.Labels[i] = " " + workload.Printable(ch.Manager)
	}
	l, err := plotter.NewLabels(xyl)
	if err != nil {
		return fmt.Errorf("manager labels: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Color = ColorChange
		l.TextStyle[i].Rotation = -math.Pi / 2
	}
	p.Add(l)
	return nil
}

// addMark draws a vertical line across the panel at t.
func addMark(p *plot.Plot, t time.Time, col color.Color, width float64) error {
	x := float64(t.Unix())
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
	if err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	l.Color, l.Width = col, vg.Points(width)
	p.Add(l)
	return nil
}
