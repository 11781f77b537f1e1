package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// AlertHour counts one clock hour's notifications on the alerts stream.
type AlertHour struct {
	Start           time.Time // the hour's start, UTC
	Fired, Resolved int
}

// maxAlertReads bounds one AlertHours read: the newest entries of the day are counted, older
// ones beyond this many are not (a day of one notification every 10 s is 8,640).
const maxAlertReads = 10_000

// AlertHours counts the firing and resolved notifications on the alerts stream in each of
// the 24 clock hours (UTC) up to now, oldest first, the current hour last. Hours already
// trimmed from the stream count zero.
func (r *Reader) AlertHours(ctx context.Context, now time.Time) ([]AlertHour, error) {
	last := now.UTC().Truncate(time.Hour)
	first := last.Add(-23 * time.Hour)
	hours := make([]AlertHour, 24)
	for i := range hours {
		hours[i].Start = first.Add(time.Duration(i) * time.Hour)
	}
	msgs, err := r.Client.XRevRangeN(ctx, r.Streams.Alerts, "+", strconv.FormatInt(first.UnixMilli(), 10), maxAlertReads).Result()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.Streams.Alerts, err)
	}
	for _, m := range msgs {
		e := toEntry(r.Streams.Alerts, m)
		i := int(e.Time.Sub(first) / time.Hour)
		if i < 0 || i >= len(hours) {
			continue
		}
		switch e.Fields["status"] {
		case "firing":
			hours[i].Fired++
		case "resolved":
			hours[i].Resolved++
		}
	}
	return hours, nil
}
