package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestLogCall_FailuresCarryTheirErrorAtWarnOrError: refused calls are logged at warn and
// server failures at error (so logs:error:stream sees them), both with the error text;
// successes and cancellations at info without one.
func TestLogCall_FailuresCarryTheirErrorAtWarnOrError(t *testing.T) {
	tests := []struct {
		name, method string
		err          error
		level, text  string
	}{
		{"ok", "/edgeplane.v1.RoutingService/GetRoute", nil, "INFO", ""},
		{"refused", "/edgeplane.v1.RoutingService/CreateRoute", status.Error(codes.InvalidArgument, "route.hosts[0]: bad"), "WARN", "route.hosts[0]: bad"},
		{"stale", "/edgeplane.v1.ConfigService/ApplyConfig", status.Error(codes.Aborted, `route "a": etag 3 is stale`), "WARN", `route "a": etag 3 is stale`},
		{"server failure", "/edgeplane.v1.RoutingService/ListRoutes", status.Error(codes.Unavailable, "redis down"), "ERROR", "redis down"},
		{"caller gone", "/edgeplane.v1.TelemetryService/TailEvents", status.Error(codes.Canceled, "context canceled"), "INFO", ""},
		{"health", "/grpc.health.v1.Health/Check", status.Error(codes.Unavailable, "x"), "DEBUG", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			logCall(context.Background(), log, tt.method, time.Now(), tt.err)
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			if rec["level"] != tt.level {
				t.Errorf("level: got %v, want %s", rec["level"], tt.level)
			}
			got, _ := rec["error"].(string)
			if got != tt.text {
				t.Errorf("error attribute: got %q, want %q", got, tt.text)
			}
		})
	}
}
