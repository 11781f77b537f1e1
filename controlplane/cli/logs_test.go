package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// logsServer serves TelemetryService on loopback over a real redis-server holding n request
// records (host a.test for even i, b.test for odd; status 500 every 4th, else 200; path
// /api/<i>; latency i ms; client 10.0.0.<i%5>), indexed as the control plane does.
func logsServer(t *testing.T, n int) string {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	streams := telemetry.StreamNames("")
	search := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	for i := range n {
		r := requestlog.Record{TraceID: fmt.Sprintf("%032x", i+1), Node: "e", Host: []string{"a.test", "b.test"}[i%2],
			Method: "GET", Path: fmt.Sprintf("/api/%d", i), Status: 200, Duration: time.Duration(i) * time.Millisecond,
			Client: fmt.Sprintf("10.0.0.%d:4000", i%5), Route: "r"}
		if i%4 == 0 {
			r.Status = 500
		}
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: streams.Requests, Values: r.Values()}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	if err := rdb.XGroupCreate(ctx, streams.Requests, keyspace.GroupSearch, "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: keyspace.GroupSearch, Consumer: "t", Streams: []string{streams.Requests, ">"}, Count: int64(n), Block: -1}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := search.Handle(ctx, streams.Requests, keyspace.GroupSearch, res[0].Messages); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	edgeplanev1.RegisterTelemetryServiceServer(g, &api.Telemetry{
		Reader: &telemetry.Reader{Client: rdb, Streams: streams, Index: search.Index}, Search: search})
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// runCLI runs the edgeplane command with args against addr and returns stdout and stderr.
func runCLI(t *testing.T, addr string, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("EDGEPLANE_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--address", addr, "--insecure"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func TestLogs_TableShowsMatchesCountAndNextPage(t *testing.T) {
	addr := logsServer(t, 40)
	out, info, err := runCLI(t, addr, "logs", "--host", "a.test", "--status", "5xx", "--limit", "3")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("got table\n%s\nwant a header and 3 rows", out)
	}
	// a.test 5xx: i = 0, 4, ..., 36 (10 records); newest first.
	for i, want := range []string{"/api/36", "/api/32", "/api/28"} {
		if f := strings.Fields(lines[i+1]); len(f) < 5 || f[1] != "500" || f[3] != "a.test" || f[4] != want {
			t.Errorf("row %d: got %q, want 500 a.test %s", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(info, "3 shown, 10 matching") || !strings.Contains(info, "next page: --page-token ") {
		t.Errorf("got info %q, want the count 10 and a next page token", info)
	}
	token := strings.TrimSpace(info[strings.Index(info, "--page-token ")+len("--page-token "):])
	out, _, err = runCLI(t, addr, "logs", "--host", "a.test", "--status", "5xx", "--limit", "3", "--page-token", token)
	if err != nil || !strings.Contains(out, "/api/24") || strings.Contains(out, "/api/28") {
		t.Errorf("second page: got %q, %v; want /api/24 first, not /api/28", out, err)
	}
}

func TestLogs_JSONAndFilters(t *testing.T) {
	addr := logsServer(t, 40)
	out, _, err := runCLI(t, addr, "logs", "--ip", "10.0.0.3", "--path", "/api/", "--min-latency", "20ms", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Entries []struct {
			Fields map[string]string `json:"fields"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("got %q: %v", out, err)
	}
	// client 10.0.0.3: i = 3, 8, ..., 38; at least 20 ms: 23, 28, 33, 38.
	var got []string
	for _, e := range res.Entries {
		got = append(got, e.Fields["path"])
	}
	if want := "/api/38 /api/33 /api/28 /api/23"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestLogs_BadFlagsAreRefused(t *testing.T) {
	addr := logsServer(t, 1)
	for _, args := range [][]string{{"--status", "fine"}, {"--until", "yesterday"}, {"--ip", "10.0.0.1:80"}, {"--limit", "5000"}} {
		if _, _, err := runCLI(t, addr, append([]string{"logs"}, args...)...); err == nil {
			t.Errorf("%v: got no error", args)
		}
	}
}

func TestLogs_LevelOrComponentSearchTheControlPlanesLogs(t *testing.T) {
	addr := logsServer(t, 4)
	out, _, err := runCLI(t, addr, "logs", "--level", "warn", "-o", "json")
	if err != nil || strings.Contains(out, "a.test") {
		t.Errorf("--level warn: got %q, %v; want the control plane's logs (none here), no request records", out, err)
	}
	if _, _, err := runCLI(t, addr, "logs", "--level", "warn", "--host", "a.test"); err == nil || !strings.Contains(err.Error(), "request filters do not apply") {
		t.Errorf("--level with --host: got %v, want a refusal", err)
	}
}
