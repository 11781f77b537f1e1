package telemetry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// Notifications are counted in the clock hour of their stream id; older than 24 hours or
// of another status they are not counted.
func TestReader_AlertHoursCountsEachHour(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	streams := telemetry.StreamNames("")
	now := time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC)
	add := func(at time.Time, status string) {
		id := fmt.Sprintf("%d-*", at.UnixMilli())
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: streams.Alerts, ID: id, Values: []any{"status", status}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	add(now.Add(-30*time.Hour), "firing")                // too old
	add(now.Add(-23*time.Hour-20*time.Minute), "firing") // 19:10 yesterday: the first hour
	add(now.Add(-2*time.Hour), "firing")
	add(now.Add(-2*time.Hour+time.Minute), "resolved")
	add(now.Add(-time.Minute), "firing")
	add(now.Add(-time.Minute), "firing")
	add(now.Add(-time.Minute), "muted") // not a notification status

	r := &telemetry.Reader{Client: rdb, Streams: streams}
	hours, err := r.AlertHours(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 24 || !hours[0].Start.Equal(time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)) ||
		!hours[23].Start.Equal(time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %d hours from %v to %v, want 24 from 2026-12-03 19:00 to 2026-12-04 18:00", len(hours), hours[0].Start, hours[len(hours)-1].Start)
	}
	want := map[int][2]int{0: {1, 0}, 21: {1, 1}, 23: {2, 0}}
	for i, h := range hours {
		if w := want[i]; h.Fired != w[0] || h.Resolved != w[1] {
			t.Errorf("hour %d (%v): got %d fired %d resolved, want %d and %d", i, h.Start, h.Fired, h.Resolved, w[0], w[1])
		}
	}
}
