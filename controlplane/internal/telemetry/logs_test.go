package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/logging"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

func TestTee_ConsoleAndStreamsWithTraceAndComponent(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	pub := publish.New(publish.Config{Client: rdb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = pub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	var console bytes.Buffer
	base, err := logging.New(logging.Config{Format: "json", Writer: &console})
	if err != nil {
		t.Fatal(err)
	}
	streams := telemetry.StreamNames("")
	log := slog.New(telemetry.Tee(base.Handler(), pub, streams, slog.LevelInfo)).With("component", "fanout")
	tc := tracectx.New()
	tctx := tracectx.With(context.Background(), tc)
	log.DebugContext(tctx, "not published")
	log.InfoContext(tctx, "agent connected", "node_id", "edge-1", slog.Group("g", "k", 1))
	log.ErrorContext(tctx, "broken", "err", "boom")

	deadline := time.Now().Add(5 * time.Second)
	for {
		all, _ := rdb.XRange(t.Context(), "logs:all:stream", "-", "+").Result()
		errs, _ := rdb.XRange(t.Context(), "logs:error:stream", "-", "+").Result()
		if len(all) == 2 && len(errs) == 1 {
			v := all[0].Values
			if v["msg"] != "agent connected" || v["component"] != "fanout" || v["node_id"] != "edge-1" ||
				v["g.k"] != "1" || v["level"] != "INFO" || v["trace_id"] != tc.TraceIDString() {
				t.Errorf("stream entry: got %v", v)
			}
			if errs[0].Values["msg"] != "broken" || errs[0].Values["err"] != "boom" {
				t.Errorf("error stream entry: got %v", errs[0].Values)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d entries in logs:all:stream and %d in logs:error:stream, want 2 and 1", len(all), len(errs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Contains(console.Bytes(), []byte(`"msg":"agent connected"`)) {
		t.Errorf("console lacks the record: %s", console.String())
	}
}
