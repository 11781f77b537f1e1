package telemetry_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
)

// TestSearchRequests_WorksOnTheDevStore: --dev runs on miniredis (an embedded store, not a
// fake for the tests' sake), so the index's commands (APPEND, MULTI, the compaction script's
// SET KEEPTTL) must work there too.
func TestSearchRequests_WorksOnTheDevStore(t *testing.T) {
	mini := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mini.Addr()})
	t.Cleanup(func() { rdb.Close() })
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	fillAt(t, rdb, s, stream, time.Now().Add(-10*time.Minute).Truncate(time.Minute), 4)
	now := time.Now()
	page, err := s.SearchRequests(t.Context(), stream, telemetry.RequestQuery{Host: "h1.test", StatusClass: 4,
		From: now.Add(-time.Hour), To: now.Add(time.Minute), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := range 100 {
		if r := searchRecord(i); r.Host == "h1.test" && r.Status/100 == 4 {
			want++
		}
	}
	if page.Total != int64(4*want) || len(page.Entries) != 4*want || !page.Exact {
		t.Errorf("got %d records, total %d, exact %v; want %d, exact", len(page.Entries), page.Total, page.Exact, 4*want)
	}
}
