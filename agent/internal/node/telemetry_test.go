package node

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// traceBackend answers 200 with the traceparent it received as the body, or 500 for /fail.
func traceBackend(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, r.Header.Get("Traceparent"))
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// call sends GET path to the agent with host and an optional traceparent; it returns the
// status, the body and the X-Trace-Id the client got.
func call(ctx context.Context, client *http.Client, addr, host, path, traceparent string) (int, string, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	req.Host = host
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("X-Trace-Id"), err
}

// records waits until stream holds n records (at most 5s; the agent packs them many to an
// entry) and returns them parsed.
func records(t *testing.T, rdb *redis.Client, stream string, n int) []requestlog.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, err := rdb.XRange(t.Context(), stream, "-", "+").Result()
		if err != nil {
			t.Fatalf("XRANGE %s: %v", stream, err)
		}
		var out []requestlog.Record
		for _, m := range msgs {
			rs, err := requestlog.Records(m.Values)
			if err != nil {
				t.Fatalf("entry %s: %v", m.ID, err)
			}
			out = append(out, rs...)
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ownRedisAgent starts a redis-server and an agent given it by its own --redis-url,
// connected to a stand-in control plane; it returns a client of that Redis, the agent and
// its config stream.
func ownRedisAgent(t *testing.T) (*redis.Client, *Agent, *session) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr, RedisURL: srv.URL()})
	return rdb, a, cp.next(t)
}

func TestTelemetry_RecordsInRedis(t *testing.T) {
	// The flag's URL wins over the control plane's (which points nowhere).
	rdb, a, s := ownRedisAgent(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 3, Snapshot: true,
		Routes:    []*edgeplanev1.Route{route("app", "app.test", traceBackend(t))},
		Telemetry: &edgeplanev1.TelemetrySettings{RedisUrl: "redis://127.0.0.1:1"}}), 3)
	// The publisher starts beside the config stream: requests before it are not recorded.
	waitUntil(t, "publishing", a.proxy.Publishing)

	const n = 40
	type sent struct {
		status     int
		traceID    string
		parent     string
		backendGot string
	}
	want := map[string]sent{}
	client := &http.Client{}
	for i := range n {
		path, parent, status := "/ok", "", http.StatusOK
		if i%4 == 1 {
			path, status = "/fail", http.StatusInternalServerError
		}
		if i%2 == 0 {
			parent = tracectx.New().String()
		}
		host := "app.test"
		if i%10 == 9 {
			host, status = "nothing.test", http.StatusNotFound
		}
		code, body, id, err := call(t.Context(), client, a.Addr(), host, path+"?q=1", parent)
		if err != nil || code != status || id == "" {
			t.Fatalf("request %d: %d %v (trace %q), want %d", i, code, err, id, status)
		}
		if host == "app.test" {
			got, ok := tracectx.Parse(body)
			if !ok || got.TraceIDString() != id || parent != "" && body[:35] != parent[:35] || body == parent {
				t.Fatalf("request %d: backend got traceparent %q; client sent %q and got trace id %q", i, body, parent, id)
			}
		}
		want[id] = sent{status: status, traceID: id, parent: parent, backendGot: body}
	}

	recs := records(t, rdb, "logs:request:stream", n)
	if len(recs) != n {
		t.Fatalf("%d records, want exactly %d", len(recs), n)
	}
	for _, r := range recs {
		w, ok := want[r.TraceID]
		if !ok {
			t.Errorf("record for unknown trace %q", r.TraceID)
			continue
		}
		delete(want, r.TraceID)
		wantRoute, wantHost := "app", "app.test"
		if w.status == http.StatusNotFound {
			wantRoute, wantHost = "", "nothing.test"
		}
		if r.Status != w.status || r.Route != wantRoute || r.Host != wantHost || r.Node != "node-1" ||
			r.Revision != 3 || r.Method != http.MethodGet || strings.Contains(r.Path, "?") || r.Client != "127.0.0.1" {
			t.Errorf("record %+v, want status %d route %q host %q node-1 revision 3", r, w.status, wantRoute, wantHost)
		}
		if wantRoute != "" && (r.Upstream == "" || !strings.Contains(w.backendGot, r.SpanID)) {
			t.Errorf("record span %q upstream %q; backend got %q", r.SpanID, r.Upstream, w.backendGot)
		}
	}
	if published, dropped := a.traces.read(); published != n || dropped != 0 {
		t.Errorf("published %d dropped %d, want %d and 0", published, dropped, n)
	}
	_, body := fetch(t, a.MetricsAddr(), "", "/metrics")
	if !strings.Contains(body, "edgeplane_agent_traces_published_total 40") {
		t.Errorf("/metrics lacks edgeplane_agent_traces_published_total 40")
	}
}

// TestTelemetry_RedisDown stops Redis under load: no request fails, records are dropped
// and counted, and publishing resumes by itself once Redis is back.
func TestTelemetry_RedisDown(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr, RedisURL: srv.URL(), TraceBuffer: 32})
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("app", "app.test", traceBackend(t))}}), 1)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{}
			for ctx.Err() == nil {
				code, _, _, err := call(ctx, client, a.Addr(), "app.test", "/", "")
				switch {
				case ctx.Err() != nil:
				case err != nil || code != http.StatusOK:
					failed.Add(1)
				default:
					ok.Add(1)
				}
				time.Sleep(10 * time.Millisecond) // a few hundred requests, not a flood
			}
		}()
	}
	waitUntil(t, "records published", func() bool { published, _ := a.traces.read(); return published > 0 })
	srv.Stop()
	down := ok.Load()
	waitUntil(t, "records dropped and 50 requests served while Redis is down", func() bool {
		_, dropped := a.traces.read()
		return dropped > 0 && ok.Load() >= down+50
	})
	_, droppedWhileDown := a.traces.read()
	srv.Start() // empty: only records published after the restart are there
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Fatalf("%d requests failed, %d succeeded; want none failed and at least 100 served", failed.Load(), ok.Load())
	}
	if droppedWhileDown == 0 {
		t.Errorf("no record dropped while Redis was down")
	}
	for range 5 {
		if code, _ := fetch(t, a.Addr(), "app.test", "/"); code != http.StatusOK {
			t.Fatalf("after restart: status %d", code)
		}
	}
	if recs := records(t, rdb, "logs:request:stream", 5); len(recs) < 5 {
		t.Errorf("%d records after Redis came back, want at least 5", len(recs))
	}
	published, dropped := a.traces.read()
	t.Logf("served %d requests; published %d, dropped %d records", ok.Load(), published, dropped)
}

// TestTelemetry_SettingsFromControlPlane: the control plane's TelemetrySettings turn
// publishing on (to its stream), move it, and turn it off.
func TestTelemetry_SettingsFromControlPlane(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr})
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("app", "app.test", traceBackend(t))}}), 1)
	fetch(t, a.Addr(), "app.test", "/")

	// publishedTo makes requests until one is recorded in stream (the switch is
	// asynchronous).
	publishedTo := func(stream string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			fetch(t, a.Addr(), "app.test", "/")
			if n, _ := rdb.XLen(t.Context(), stream).Result(); n > 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no record in %s within 5s", stream)
	}
	// The settings arrive on an empty same-revision delta, as the control plane sends them
	// to an agent that is already current.
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, BaseRevision: 1,
		Telemetry: &edgeplanev1.TelemetrySettings{RedisUrl: srv.URL(), RequestStream: "a:logs:request:stream", MaxLen: 1000}}), 1)
	publishedTo("a:logs:request:stream")
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Telemetry: &edgeplanev1.TelemetrySettings{RedisUrl: srv.URL(), RequestStream: "b:logs:request:stream"}}), 2)
	publishedTo("b:logs:request:stream")

	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 3, BaseRevision: 2, Telemetry: &edgeplanev1.TelemetrySettings{}}), 3)
	deadline := time.Now().Add(5 * time.Second)
	for a.proxy.Publishing() {
		if time.Now().After(deadline) {
			t.Fatal("still publishing 5s after the control plane turned it off")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The proxy holds no publisher any more (waited on above), so the request below cannot
	// be recorded; the stream's length is checked as well. The old publisher still sends
	// what it buffered before it stopped (up to traceLinger later): the length is read once
	// it has stayed put for two intervals, and again after the request and two more.
	xlen := func() int64 {
		n, err := rdb.XLen(t.Context(), "b:logs:request:stream").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := xlen()
	for settled := time.Now().Add(5 * time.Second); ; before = xlen() {
		time.Sleep(2 * traceLinger)
		if xlen() == before {
			break
		}
		if time.Now().After(settled) {
			t.Fatal("the request stream still grows 5s after publishing was turned off")
		}
	}
	fetch(t, a.Addr(), "app.test", "/")
	time.Sleep(2 * traceLinger)
	if after := xlen(); after != before {
		t.Errorf("a request was recorded after publishing was turned off (%d -> %d)", before, after)
	}
}

// TestTelemetry_BlocksCompressedOnlyWhenTheControlPlaneReadsThem: blocks go compressed
// (requestlog.ZBlockField) while the control plane's updates say its consumers read them,
// also for an agent with its own --redis-url, and as text again after an update that does
// not say so (a control plane that predates them); either way every record reads back.
func TestTelemetry_BlocksCompressedOnlyWhenTheControlPlaneReadsThem(t *testing.T) {
	rdb, a, s := ownRedisAgent(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("app", "app.test", traceBackend(t))}, RequestBlockEncoding: requestlog.ZBlockEncoding}), 1)
	waitUntil(t, "publishing", a.proxy.Publishing)

	// fields sends n requests and returns the field of each entry holding their records.
	seen := 0
	fields := func(n int) map[string]int {
		t.Helper()
		for range n {
			fetch(t, a.Addr(), "app.test", "/")
		}
		recs := records(t, rdb, "logs:request:stream", seen+n)
		if len(recs) != seen+n {
			t.Fatalf("%d records, want %d", len(recs), seen+n)
		}
		msgs, err := rdb.XRange(t.Context(), "logs:request:stream", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		got, count := map[string]int{}, 0
		for _, m := range msgs {
			rs, _ := requestlog.Records(m.Values)
			count += len(rs)
			if count > seen {
				for f := range m.Values {
					got[f]++
				}
			}
		}
		seen += n
		return got
	}
	if got := fields(20); got[requestlog.ZBlockField] == 0 || got[requestlog.BlockField] != 0 {
		t.Errorf("told s2: entries by field %v, want only %s", got, requestlog.ZBlockField)
	}
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1}), 2)
	if got := fields(20); got[requestlog.BlockField] == 0 || got[requestlog.ZBlockField] != 0 {
		t.Errorf("told nothing: entries by field %v, want only %s", got, requestlog.BlockField)
	}
}
