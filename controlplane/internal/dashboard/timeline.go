package dashboard

import (
	"time"
)

// timeline draws certificates' validity as bars on one time axis, with a line at now.
type timeline struct {
	W, H       int
	NowX       float64
	From, To   string
	Rows       []timelineRow
	LabelWidth int
}

type timelineRow struct {
	Name     string
	Y, TextY int
	X, Width float64
	Class    string // bar colour by status and time left
}

const (
	timelineRowH  = 22
	timelineLabel = 160
	timelineW     = 760
)

// certTimeline spans from a week before now (or the earliest not_before) to the latest
// not_after (at least 30 days ahead), at most a year each way.
func certTimeline(certs []certRow, now time.Time) *timeline {
	from, to := now.Add(-7*24*time.Hour), now.Add(30*24*time.Hour)
	for _, c := range certs {
		if nb := c.GetNotBefore(); nb != nil && nb.AsTime().Before(from) {
			from = nb.AsTime()
		}
		if na := c.GetNotAfter(); na != nil && na.AsTime().After(to) {
			to = na.AsTime()
		}
	}
	from, to = later(from, now.Add(-365*24*time.Hour)), earlier(to, now.Add(365*24*time.Hour))
	t := &timeline{W: timelineW, H: timelineRowH*len(certs) + 24, LabelWidth: timelineLabel,
		From: from.UTC().Format("2006-01-02"), To: to.UTC().Format("2006-01-02")}
	scale := func(at time.Time) float64 {
		f := float64(at.Sub(from)) / float64(to.Sub(from))
		return timelineLabel + min(max(f, 0), 1)*float64(timelineW-timelineLabel-4)
	}
	t.NowX = scale(now)
	for i, c := range certs {
		row := timelineRow{Name: c.GetName(), Y: i*timelineRowH + 4, TextY: i*timelineRowH + 18, Class: barClass(c, now)}
		if c.GetNotBefore() != nil && c.GetNotAfter() != nil {
			row.X = scale(c.GetNotBefore().AsTime())
			row.Width = max(scale(c.GetNotAfter().AsTime())-row.X, 1)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func barClass(c certRow, now time.Time) string {
	switch {
	case c.Status == "FAILED" || c.Status == "EXPIRED":
		return "bad"
	case c.GetNotAfter() != nil && c.GetNotAfter().AsTime().Sub(now) < 14*24*time.Hour:
		return "warn"
	}
	return "ok"
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
