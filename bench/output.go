package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// outcome is a finished scenario, ready for each way of showing it.
type outcome struct {
	Title  string
	Result any // what --json prints
	Rows   []row
	Tables []table
	// Latency, when set, is drawn as a distribution in the HTML report.
	Latency      *Histogram
	LatencyTitle string
	Charts       []chart
	Warnings     []string
	// Failure is a problem found while measuring (connections dropped):
	// the results are shown, then Main returns it.
	Failure error
}

type row struct{ Name, Value string }

type table struct {
	Title string
	Head  []string
	Rows  [][]string
}

// chart is a line chart; X is in seconds unless XUnit says otherwise.
type chart struct {
	Title, YLabel string
	XUnit         string
	X             []float64
	Lines         []line
}

type line struct {
	Name string
	Y    []float64
}

// perSecondX returns 0.5, 1.5, …: the middle of each one-second slot.
func perSecondX(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i) + 0.5
	}
	return x
}

func writeJSON(w io.Writer, o *outcome) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(o.Result)
}

func writeTable(w io.Writer, o *outcome) error {
	var b strings.Builder
	b.WriteString(o.Title + "\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range o.Rows {
		fmt.Fprintf(tw, "  %s\t%s\n", r.Name, r.Value)
	}
	tw.Flush()
	for _, t := range o.Tables {
		fmt.Fprintf(&b, "\n%s\n\n", t.Title)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\t\n", strings.Join(t.Head, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintf(tw, "%s\t\n", strings.Join(r, "\t"))
		}
		tw.Flush()
	}
	for _, w := range o.Warnings {
		fmt.Fprintf(&b, "\nwarning: %s\n", w)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// latencyRows formats a latency summary for a table.
func latencyRows(prefix string, l Latency) []row {
	if l.Count == 0 {
		return []row{{prefix, "no samples"}}
	}
	return []row{
		{prefix + " p50 / p90 / p99", fmt.Sprintf("%s / %s / %s", fmtMS(l.P50MS), fmtMS(l.P90MS), fmtMS(l.P99MS))},
		{prefix + " p99.9 / max", fmt.Sprintf("%s / %s", fmtMS(l.P999MS), fmtMS(l.MaxMS))},
		{prefix + " mean (samples)", fmt.Sprintf("%s (%d)", fmtMS(l.MeanMS), l.Count)},
	}
}

func fmtMS(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// fmtBytes prints a byte count in binary units, signed.
func fmtBytes(n int64) string {
	v, sign := float64(n), ""
	if v < 0 {
		v, sign = -v, "-"
	}
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%s%.2f GiB", sign, v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", sign, v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", sign, v/(1<<10))
	}
	return fmt.Sprintf("%s%.0f B", sign, v)
}

// fmtCount groups digits: 1234567 → 1,234,567.
func fmtCount(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtRate(v float64) string { return fmtCount(int64(v+0.5)) + "/s" }
