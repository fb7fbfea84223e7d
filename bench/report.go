package bench

import (
	"errors"
	"fmt"
	"html"
	"math"
	"os"
	"strings"
	"time"
)

// The HTML report is one self-contained page: the result tables, the
// latency distribution and the per-second series, drawn as inline SVG. It
// loads nothing (no scripts, fonts or images) so it can be mailed or
// attached to an issue as is.

const (
	chartW, chartH         = 760, 280
	padL, padR, padT, padB = 70, 60, 30, 40
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	latencyBins            = 60
	reportStyle            = `body{font:14px/1.4 system-ui,sans-serif;max-width:820px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:2px 12px;border-bottom:1px solid #ddd;text-align:left}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}svg{display:block;margin:.5em 0 1.5em;font:11px system-ui,sans-serif}.warn{color:#a40}code{background:#f4f4f4;padding:1px 4px}`
	axisColor, gridColor   = "#444", "#e4e4e4"
	barColor, cdfColor     = "#8fb4e3", "#c0392b"
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"}

// writeReport writes the page for o to path.
func writeReport(path string, o *outcome, args []string) error {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style></head><body>\n", esc(o.Title), reportStyle)
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p><code>parley bench %s</code><br>%s</p>\n", esc(o.Title), esc(strings.Join(args, " ")), time.Now().Format(time.RFC1123))
	for _, w := range o.Warnings {
		fmt.Fprintf(&b, "<p class=\"warn\">warning: %s</p>\n", esc(w))
	}
	b.WriteString("<table>\n")
	for _, r := range o.Rows {
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(r.Name), esc(r.Value))
	}
	b.WriteString("</table>\n")
	if o.Latency != nil && o.Latency.Count() > 0 {
		fmt.Fprintf(&b, "<h2>%s</h2>\n", esc(o.LatencyTitle))
		svgLatency(&b, o.Latency)
	}
	for _, c := range o.Charts {
		fmt.Fprintf(&b, "<h2>%s</h2>\n", esc(c.Title))
		svgLines(&b, c)
	}
	for _, t := range o.Tables {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<table><tr>", esc(t.Title))
		for _, h := range t.Head {
			fmt.Fprintf(&b, "<th>%s</th>", esc(h))
		}
		b.WriteString("</tr>\n")
		for _, r := range t.Rows {
			b.WriteString("<tr>")
			for _, v := range r {
				fmt.Fprintf(&b, "<td class=\"n\">%s</td>", esc(v))
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
	b.WriteString("</body></html>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing the --report page: %w", err)
	}
	return nil
}

// svgLatency draws the latency distribution: bars for the share of
// samples in each log-spaced bin, the cumulative share as a line (right
// axis), and the p50, p99 and p99.9 marks.
func svgLatency(b *strings.Builder, h *Histogram) {
	lo := math.Max(float64(h.Min()), 1000) // 1µs floor keeps the log axis sane
	hi := math.Max(float64(h.Max()), lo*10)
	lo, hi = math.Log10(lo), math.Log10(hi)*1.0001
	var bins [latencyBins]float64
	total := float64(h.Count())
	h.eachBucket(func(low, width int64, n uint64) {
		v := math.Log10(math.Max(float64(low)+float64(width)/2, 1))
		i := int((v - lo) / (hi - lo) * latencyBins)
		bins[min(max(i, 0), latencyBins-1)] += float64(n) / total
	})
	peak := 0.0
	for _, v := range bins {
		peak = math.Max(peak, v)
	}
	yMax := niceCeil(peak * 100)
	x := func(logv float64) float64 { return padL + (logv-lo)/(hi-lo)*plotW }
	y := func(pct float64) float64 { return padT + plotH - pct/yMax*plotH }
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`+"\n", chartW, chartH, chartW, chartH)
	for _, t := range ticks(yMax) {
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/><text x="%d" y="%.1f" text-anchor="end" dy="4">%s%%</text>`+"\n",
			padL, padL+plotW, y(t), y(t), gridColor, padL-6, y(t), trimFloat(t))
	}
	bw := float64(plotW) / latencyBins
	cum, cdf := 0.0, make([]string, 0, latencyBins)
	for i, v := range bins {
		x0 := padL + float64(i)*bw
		if v > 0 {
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x0+0.5, y(v*100), bw-1, float64(padT+plotH)-y(v*100), barColor)
		}
		cum += v
		cdf = append(cdf, fmt.Sprintf("%.1f,%.1f", x0+bw, padT+plotH-cum*plotH))
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", strings.Join(cdf, " "), cdfColor)
	for _, pct := range []float64{0, 25, 50, 75, 100} {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" dy="4" fill="%s">%g%%</text>`+"\n", padL+plotW+6, padT+plotH-pct/100*plotH, cdfColor, pct)
	}
	steps := []float64{1, 2, 5}
	if hi-lo > 4 {
		steps = []float64{1}
	}
	for d := 1e3; d <= 1e11; d *= 10 {
		for _, m := range steps {
			if lv := math.Log10(d * m); lv >= lo && lv <= hi {
				fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n",
					x(lv), x(lv), padT+plotH, padT+plotH+5, axisColor, x(lv), padT+plotH+18, fmtDur(time.Duration(d*m)))
			}
		}
	}
	for i, m := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}, {"p99.9", 0.999}} {
		v := h.Quantile(m.q)
		lv := math.Log10(math.Max(float64(v), 1))
		if lv < lo || lv > hi {
			continue
		}
		anchor := "middle"
		if x(lv) > padL+plotW-40 {
			anchor = "end"
		}
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-dasharray="3,3"/><text x="%.1f" y="%d" text-anchor="%s">%s %s</text>`+"\n",
			x(lv), x(lv), padT-12*(i%2), padT+plotH, axisColor, x(lv), padT-4-12*(i%2), anchor, m.name, fmtDur(v))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>`+"\n", padL, padL+plotW, padT+plotH, padT+plotH, axisColor)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">latency (log scale); bars: share of samples, line: cumulative share</text>`+"\n", padL+plotW/2, chartH-4)
	b.WriteString("</svg>\n")
}

// svgLines draws a chart's lines over seconds.
func svgLines(b *strings.Builder, c chart) {
	xMax, yPeak := 1.0, 0.0
	for _, v := range c.X {
		xMax = math.Max(xMax, v)
	}
	for _, l := range c.Lines {
		for _, v := range l.Y {
			yPeak = math.Max(yPeak, v)
		}
	}
	yMax := niceCeil(yPeak)
	unit := c.XUnit
	if unit == "" {
		unit = "s"
	}
	x := func(v float64) float64 { return padL + v/xMax*plotW }
	y := func(v float64) float64 { return padT + plotH - v/yMax*plotH }
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`+"\n", chartW, chartH, chartW, chartH)
	for _, t := range ticks(yMax) {
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/><text x="%d" y="%.1f" text-anchor="end" dy="4">%s</text>`+"\n",
			padL, padL+plotW, y(t), y(t), gridColor, padL-6, y(t), trimFloat(t))
	}
	for _, t := range ticks(niceCeil(xMax)) {
		if t > xMax {
			continue
		}
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s"/><text x="%.1f" y="%d" text-anchor="middle">%s%s</text>`+"\n",
			x(t), x(t), padT+plotH, padT+plotH+5, axisColor, x(t), padT+plotH+18, trimFloat(t), unit)
	}
	for i, l := range c.Lines {
		color := palette[i%len(palette)]
		pts := make([]string, 0, len(l.Y))
		for j, v := range l.Y {
			if j < len(c.X) && !math.IsNaN(v) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(c.X[j]), y(v)))
			}
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", strings.Join(pts, " "), color)
		if len(pts) <= 30 { // few points: mark them, a line alone hides them
			for _, p := range pts {
				cx, cy, _ := strings.Cut(p, ",")
				fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, cx, cy, color)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d" dy="4">%s</text>`+"\n",
			padL+10, padT+6+i*14, color, padL+24, padT+6+i*14, html.EscapeString(l.Name))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/><line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>`+"\n",
		padL, padL+plotW, padT+plotH, padT+plotH, axisColor, padL, padL, padT, padT+plotH, axisColor)
	fmt.Fprintf(b, `<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>`+"\n", padT+plotH/2, padT+plotH/2, html.EscapeString(c.YLabel))
	b.WriteString("</svg>\n")
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// ticks returns five evenly spaced ticks from 0 to top.
func ticks(top float64) []float64 {
	out := make([]float64, 0, 6)
	for i := range 6 {
		out = append(out, top*float64(i)/5)
	}
	return out
}

func trimFloat(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e5)/10)
	case v >= 1e4:
		return fmt.Sprintf("%gk", math.Round(v/100)/10)
	}
	return fmt.Sprintf("%g", math.Round(v*100)/100)
}

// checkWritable tells whether a report could be written to path, before a
// run: a file there is opened for appending (and left as it was), or else
// created and removed again.
func checkWritable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err // a directory, say, or not ours to write
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(path)
}
