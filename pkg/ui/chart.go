package ui

import (
	"fmt"
	"html/template"
	"strings"
)

// chart draws a queue's recent counts as a small inline SVG (no script):
// visible, in flight and delayed as lines over the sampled window.
func chart(h []queueSample) template.HTML {
	const w, ht = 240, 48
	if len(h) < 2 {
		return template.HTML(`<span class="muted">collecting…</span>`)
	}
	peak := 1
	for _, s := range h {
		peak = max(peak, s.Visible, s.InFlight, s.Delayed)
	}
	line := func(get func(queueSample) int) string {
		var b strings.Builder
		for i, s := range h {
			x := float64(i) * w / float64(len(h)-1)
			y := ht - 2 - float64(get(s))*(ht-4)/float64(peak)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		return b.String()
	}
	last := h[len(h)-1]
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="last %d samples, peak %d; now visible %d, in flight %d, delayed %d">`,
		w, ht, w, ht, len(h), peak, last.Visible, last.InFlight, last.Delayed)
	fmt.Fprintf(&b, `<polyline class="l-visible" points="%s"/>`, line(func(s queueSample) int { return s.Visible }))
	fmt.Fprintf(&b, `<polyline class="l-inflight" points="%s"/>`, line(func(s queueSample) int { return s.InFlight }))
	fmt.Fprintf(&b, `<polyline class="l-delayed" points="%s"/>`, line(func(s queueSample) int { return s.Delayed }))
	fmt.Fprintf(&b, `<text x="2" y="10">%d</text></svg>`, peak)
	return template.HTML(b.String())
}
