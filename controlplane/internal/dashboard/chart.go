package dashboard

import (
	"fmt"
	"strings"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 600, 160
	chartPad       = 4
)

// chart is a line chart drawn server-side as SVG (template "chart" in layout.html).
// FrameW and FrameH size its border inside the view box.
type chart struct {
	Title          string
	Max            string // the top of the y axis, formatted
	Span           string // how much time the x axis covers
	Series         []series
	Empty          bool
	W, H           int
	FrameW, FrameH int
}

// series is one polyline; Class picks its colour in the stylesheet.
type series struct {
	Name, Class string
	Points      string // "x,y x,y ..."
}

func rateChart(samples []sample) *chart {
	return buildChart("Requests per second", samples, func(v float64) string { return fmt.Sprintf("%.2f/s", v) },
		line{"rate", "s-rate", func(s sample) float64 { return s.rate }})
}

func latencyChart(samples []sample) *chart {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return buildChart("Latency (ms)", samples, func(v float64) string { return fmt.Sprintf("%.1f ms", v) },
		line{"p50", "s-p50", func(s sample) float64 { return ms(s.p50) }},
		line{"p95", "s-p95", func(s sample) float64 { return ms(s.p95) }},
		line{"p99", "s-p99", func(s sample) float64 { return ms(s.p99) }})
}

type line struct {
	name, class string
	value       func(sample) float64
}

// buildChart scales the lines to the chart: x by time from the first sample to the last,
// y from 0 to the largest value.
func buildChart(title string, samples []sample, format func(float64) string, lines ...line) *chart {
	c := &chart{Title: title, W: chartW, H: chartH, FrameW: chartW - 1, FrameH: chartH - 1, Empty: len(samples) < 2}
	top := 0.0
	for _, s := range samples {
		for _, l := range lines {
			top = max(top, l.value(s))
		}
	}
	if top == 0 {
		top = 1
	}
	c.Max = format(top)
	if c.Empty {
		return c
	}
	first, span := samples[0].at, samples[len(samples)-1].at.Sub(samples[0].at)
	c.Span = span.Round(time.Second).String()
	for _, l := range lines {
		var b strings.Builder
		for _, s := range samples {
			x := chartPad + float64(chartW-2*chartPad)*float64(s.at.Sub(first))/float64(span)
			y := chartH - chartPad - float64(chartH-2*chartPad)*l.value(s)/top
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		c.Series = append(c.Series, series{Name: l.name, Class: l.class, Points: strings.TrimSpace(b.String())})
	}
	return c
}

func formatMs(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
