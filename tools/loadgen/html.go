package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// The HTML report is one self-contained page: its charts are inline SVG
// drawn here, with no script and nothing fetched when it is viewed.

//go:embed report.html.tmpl
var reportTemplate string

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":       fmtMs,
	"failures": failureList,
	"upper":    strings.ToUpper,
	"decisions": func(d *resolverDelta) []string {
		return decisionOrder(d.Decisions)
	},
	"signed": func(v int64) string { return fmt.Sprintf("%+d", v) },
	"add":    func(a, b float64) float64 { return round1(a + b) },
	"mid":    func(a, b float64) float64 { return round1((a + b) / 2) },
	// legendX places the i-th of three legend entries, from the right.
	"legendX": func(right float64, i int) float64 { return right - float64(3-i)*52 },
}).Parse(reportTemplate))

// chart is one SVG chart, laid out in user units.
type chart struct {
	Title          string
	W, H           float64
	X0, Y0, X1, Y1 float64 // the plot area: left, top, right, bottom
	XLabel, YLabel string
	XTicks, YTicks []tick
	Lines          []line
	Bars           []bar
	Empty          string // shown instead of a plot when there is no data
}

type tick struct {
	Pos   float64
	Label string
}

type line struct {
	Class  string
	Label  string
	Points string // "x,y x,y …"
	Dots   [][2]float64
}

type bar struct {
	X, Y, W, H float64
	Title      string
}

const (
	chartW = 540.0
	chartH = 240.0
)

func newChart(title, xLabel, yLabel string) *chart {
	return &chart{Title: title, W: chartW, H: chartH, X0: 60, Y0: 28, X1: chartW - 14, Y1: chartH - 38, XLabel: xLabel, YLabel: yLabel}
}

// scale maps [lo, hi] onto [a, b], linearly or logarithmically.
type scale struct {
	lo, hi, a, b float64
	log          bool
}

// round1 rounds a coordinate to a tenth of a unit, to keep the SVG short.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// at places v on the scale, rounded to a tenth of a unit.
func (s scale) at(v float64) float64 { return round1(s.place(v)) }

func (s scale) place(v float64) float64 {
	lo, hi := s.lo, s.hi
	if s.log {
		v, lo, hi = math.Log10(max(v, s.lo)), math.Log10(lo), math.Log10(hi)
	}
	if hi == lo {
		return (s.a + s.b) / 2
	}
	return s.a + (v-lo)/(hi-lo)*(s.b-s.a)
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that cuts
// span into at most n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// linearTicks labels [lo, hi] at round values.
func linearTicks(s scale, n int, format func(float64) string) []tick {
	step := niceStep(s.hi-s.lo, n)
	var ts []tick
	for v := math.Ceil(s.lo/step) * step; v <= s.hi+step*1e-9; v += step {
		ts = append(ts, tick{Pos: s.at(v), Label: format(v)})
	}
	return ts
}

// logTicks labels [lo, hi] at 1, 2 and 5 times powers of ten, or at
// powers of ten alone if that makes too many; at its ends if neither
// gives two.
func logTicks(s scale, format func(float64) string) []tick {
	collect := func(mults ...float64) []tick {
		var ts []tick
		for e := math.Floor(math.Log10(s.lo)); e <= math.Ceil(math.Log10(s.hi)); e++ {
			for _, m := range mults {
				v := m * math.Pow(10, e)
				if v >= s.lo*(1-1e-9) && v <= s.hi*(1+1e-9) {
					ts = append(ts, tick{Pos: s.at(v), Label: format(v)})
				}
			}
		}
		return ts
	}
	ts := collect(1, 2, 5)
	if len(ts) > 8 {
		ts = collect(1)
	}
	if len(ts) < 2 {
		ts = []tick{{Pos: s.at(s.lo), Label: format(s.lo)}, {Pos: s.at(s.hi), Label: format(s.hi)}}
	}
	return ts
}

// tickMs labels milliseconds without needless digits.
func tickMs(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'g', 3, 64) + "s"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64) + "ms"
	}
}

func tickSeconds(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) + "s" }

// latencyChart draws the p50, p95 and max latency of each time slice
// over the mix, on a logarithmic latency axis. (Not p99: a slice holds
// tens of requests, where p99 is the max.)
func latencyChart(s opStats, elapsedS float64) *chart {
	c := newChart(s.Op+": latency over time", "seconds into the mix", "latency")
	if len(s.Series) == 0 {
		c.Empty = "no requests"
		return c
	}
	lo, hi := math.Inf(1), 0.0
	for _, p := range s.Series {
		lo, hi = min(lo, p.P50Ms), max(hi, p.MaxMs)
	}
	lo = max(lo, 0.001)
	if hi <= lo {
		hi = lo * 10
	}
	lo, hi = lo/1.2, hi*1.2
	xs := scale{lo: 0, hi: max(elapsedS, s.StepS), a: c.X0, b: c.X1}
	ys := scale{lo: lo, hi: hi, a: c.Y1, b: c.Y0, log: true}
	c.XTicks = linearTicks(xs, 8, tickSeconds)
	c.YTicks = logTicks(ys, tickMs)
	series := []struct {
		class, label string
		v            func(point) float64
	}{
		{"max", "max", func(p point) float64 { return p.MaxMs }},
		{"p95", "p95", func(p point) float64 { return p.P95Ms }},
		{"p50", "p50", func(p point) float64 { return p.P50Ms }},
	}
	for _, sr := range series {
		l := line{Class: sr.class, Label: sr.label}
		pts := make([]string, len(s.Series))
		for i, p := range s.Series {
			x, y := xs.at(p.AtS+s.StepS/2), ys.at(sr.v(p))
			pts[i] = fmt.Sprintf("%g,%g", x, y)
			l.Dots = append(l.Dots, [2]float64{x, y})
		}
		l.Points = strings.Join(pts, " ")
		c.Lines = append(c.Lines, l)
	}
	return c
}

// histogramChart draws the latency histogram: bars of equal width on a
// logarithmic latency axis, their height the count.
func histogramChart(s opStats) *chart {
	c := newChart(s.Op+": latency histogram", "latency", "requests")
	if len(s.Hist) == 0 {
		c.Empty = "no requests"
		return c
	}
	lo, hi := s.Hist[0].LoMs, s.Hist[len(s.Hist)-1].HiMs
	peak := 0
	for _, b := range s.Hist {
		peak = max(peak, b.Count)
	}
	ys := scale{lo: 0, hi: float64(peak), a: c.Y1, b: c.Y0}
	c.YTicks = linearTicks(ys, 5, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	if hi <= lo {
		// One bin: one bar across the middle.
		c.XTicks = []tick{{Pos: (c.X0 + c.X1) / 2, Label: tickMs(lo)}}
		w := (c.X1 - c.X0) / 5
		c.Bars = []bar{{X: (c.X0+c.X1)/2 - w/2, Y: ys.at(float64(peak)), W: w, H: c.Y1 - ys.at(float64(peak)),
			Title: fmt.Sprintf("%s: %d", tickMs(lo), peak)}}
		return c
	}
	xs := scale{lo: lo, hi: hi, a: c.X0, b: c.X1, log: true}
	c.XTicks = logTicks(xs, tickMs)
	for _, b := range s.Hist {
		x0, x1 := xs.at(b.LoMs), xs.at(b.HiMs)
		y := ys.at(float64(b.Count))
		c.Bars = append(c.Bars, bar{X: x0 + 0.5, Y: y, W: round1(max(x1-x0-1, 0.5)), H: round1(c.Y1 - y),
			Title: fmt.Sprintf("%s – %s: %d", fmtMs(b.LoMs), fmtMs(b.HiMs), b.Count)})
	}
	return c
}

// htmlOp is one operation's section of the page.
type htmlOp struct {
	Stats     opStats
	Latency   *chart
	Histogram *chart
}

// writeHTML writes the one-page report.
func writeHTML(w io.Writer, res *result) error {
	ops := make([]htmlOp, len(res.Operations))
	for i, s := range res.Operations {
		ops[i] = htmlOp{Stats: s, Latency: latencyChart(s, res.ElapsedS), Histogram: histogramChart(s)}
	}
	return htmlReport.Execute(w, struct {
		*result
		Ops []htmlOp
	}{res, ops})
}
