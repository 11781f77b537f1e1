package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// Requests proxied by a real agent are found by QueryLogs (host + status class, path
// prefix, trace id) through the search index the control plane's "search" consumer group
// writes, with exact counts, and page by page.
func TestQueryLogs_FindsAnAgentsRequestsByHostStatusPathAndTrace(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1", "--agent-redis-url", rds.URL())
	tel := edgeplanev1.NewTelemetryServiceClient(cp.conn)
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))
	ag.expectServes("web.test", "/", 200, "A /")

	const found, missing = 25, 12
	var lastTrace string
	for i := range found + missing {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/shop/%d", ag.Addr, i), nil)
		req.Host = "web.test"
		if i >= found {
			req.Host = "nothing.test" // 404 from the agent itself
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if i == found-1 {
			lastTrace = res.Header.Get("X-Trace-Id")
		}
	}
	eventually(t, 15*time.Second, func() error {
		res, err := tel.QueryLogs(t.Context(), &edgeplanev1.QueryLogsRequest{Host: "nothing.test", StatusClass: "4xx", Limit: 5})
		if err != nil {
			return err
		}
		if res.GetTotalCount() != missing || !res.GetCountExact() || len(res.GetEntries()) != 5 || res.GetNextPageToken() == "" {
			return fmt.Errorf("host+4xx: got total %d exact %v, %d entries, next %q; want %d exact, 5, a next page",
				res.GetTotalCount(), res.GetCountExact(), len(res.GetEntries()), res.GetNextPageToken(), missing)
		}
		// Newest first by stream id (the agent's publisher may add records in another order
		// than the requests came, so paths are not compared).
		for i := 1; i < len(res.GetEntries()); i++ {
			a, b := res.GetEntries()[i-1].GetTime().AsTime(), res.GetEntries()[i].GetTime().AsTime()
			if a.Before(b) {
				return fmt.Errorf("newest first: entry %d at %v before entry %d at %v", i-1, a, i, b)
			}
		}
		return nil
	})
	res, err := tel.QueryLogs(t.Context(), &edgeplanev1.QueryLogsRequest{Host: "web.test", PathPrefix: "/shop/", Limit: 1000})
	if err != nil || len(res.GetEntries()) != found {
		t.Errorf("host + path prefix: got %d records, %v; want %d", len(res.GetEntries()), err, found)
	}
	res, err = tel.QueryLogs(t.Context(), &edgeplanev1.QueryLogsRequest{Requests: true, TraceId: lastTrace})
	if err != nil || len(res.GetEntries()) != 1 || res.GetEntries()[0].GetFields()["path"] != fmt.Sprintf("/shop/%d", found-1) {
		t.Errorf("by trace id: got %v, %v; want the one record", res.GetEntries(), err)
	}
}
