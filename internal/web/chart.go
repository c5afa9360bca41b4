package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/leakwatch/leakwatch/storage"
)

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH   = 720, 160
	chartLeft        = 44 // room for the axis labels
	chartTop, chartB = 12, 22
)

// exposureChart draws files and patients found per day as two bar
// charts in one SVG. It is built here, not in the browser: the CSP allows
// no script, and SVG markup with classes needs no inline style. Every
// value written is a number or a date we format, so nothing needs
// escaping beyond what fmt emits.
func exposureChart(days []storage.DayExposure) template.HTML {
	var b strings.Builder
	total := chartH*2 + 20
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title">`, chartW, total)
	var files, patients int64
	for _, d := range days {
		files += d.Files
		patients += d.Patients
	}
	from, to := "", ""
	if len(days) > 0 {
		from, to = days[0].Day.Format("2 Jan"), days[len(days)-1].Day.Format("2 Jan 2006")
	}
	fmt.Fprintf(&b, `<title id="chart-title">Exposure found per day, %s to %s: %d files and %d patients in all</title>`, from, to, files, patients)
	series(&b, days, 0, "Patients", "bar-patients", func(d storage.DayExposure) int64 { return d.Patients })
	series(&b, days, chartH+20, "Files", "bar-files", func(d storage.DayExposure) int64 { return d.Files })
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: numbers and formatted dates only
}

// series draws one bar chart at vertical offset y.
func series(b *strings.Builder, days []storage.DayExposure, y int, label, class string, v func(storage.DayExposure) int64) {
	var top int64
	for _, d := range days {
		top = max(top, v(d))
	}
	plotH := chartH - chartTop - chartB
	fmt.Fprintf(b, `<g transform="translate(0 %d)">`, y)
	fmt.Fprintf(b, `<text class="chart-label" x="%d" y="%d">%s per day (most: %d)</text>`, chartLeft, chartTop-2, label, top)
	fmt.Fprintf(b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, chartLeft, chartTop+plotH, chartW, chartTop+plotH)
	fmt.Fprintf(b, `<text class="axis-label" x="%d" y="%d" text-anchor="end">%d</text>`, chartLeft-4, chartTop+8, top)
	fmt.Fprintf(b, `<text class="axis-label" x="%d" y="%d" text-anchor="end">0</text>`, chartLeft-4, chartTop+plotH)
	if n := len(days); n > 0 {
		step := float64(chartW-chartLeft) / float64(n)
		for i, d := range days {
			h := 0.0
			if top > 0 {
				h = float64(v(d)) / float64(top) * float64(plotH)
			}
			x := float64(chartLeft) + float64(i)*step
			fmt.Fprintf(b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
				class, x+1, float64(chartTop+plotH)-h, max(step-2, 1), h, d.Day.Format("Mon 2 Jan"), v(d))
			if i == 0 || i == n-1 || (n > 10 && i%7 == 0) {
				fmt.Fprintf(b, `<text class="axis-label" x="%.1f" y="%d">%s</text>`, x, chartH-6, d.Day.Format("2 Jan"))
			}
		}
	}
	b.WriteString(`</g>`)
}
