package logging

import (
	"context"

	"bytes"
	"encoding/json"
	"github.com/edgeplane/edgeplane/internal/tracectx"
	"strings"
	"testing"
)

func TestNew_FormatsAndLevels(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Config{Format: "json", Level: "warn", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.Warn("kept", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("got %q, want one JSON line: %v", buf.String(), err)
	}
	if rec["msg"] != "kept" || rec["k"] != float64(1) {
		t.Errorf("got %v, want msg=kept k=1", rec)
	}
	buf.Reset()
	log, err = New(Config{Level: "debug", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hello", "component", "x")
	if !strings.Contains(buf.String(), "hello") || !strings.Contains(buf.String(), "component=x") {
		t.Errorf("got %q, want a text line with the message and attribute", buf.String())
	}
}

func TestNew_RejectsUnknownValues(t *testing.T) {
	for _, cfg := range []Config{{Format: "xml"}, {Level: "loud"}} {
		if _, err := New(Config{Format: cfg.Format, Level: cfg.Level, Writer: &bytes.Buffer{}}); err == nil {
			t.Errorf("New(%+v): got nil error, want one", cfg)
		}
	}
}

func TestNew_AddsTraceIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Config{Format: "json", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	tc := tracectx.New()
	log.With("component", "x").InfoContext(tracectx.With(context.Background(), tc), "hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["trace_id"] != tc.TraceIDString() || rec["component"] != "x" {
		t.Errorf("got %v, want trace_id %s and component x", rec, tc.TraceIDString())
	}
}

func TestNew_LevelsPerComponent(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Config{Format: "json", Level: "warn,fanout=debug", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.With("component", "fanout").Debug("fanout detail")
	log.With("component", "grpc").Info("grpc chatter")
	log.Info("plain info")
	out := buf.String()
	if !strings.Contains(out, "fanout detail") || strings.Contains(out, "grpc chatter") || strings.Contains(out, "plain info") {
		t.Errorf("got %q, want only the fanout debug line", out)
	}
	for _, bad := range []string{"info,fanout", "info,=debug", "info,fanout=loud"} {
		if _, err := New(Config{Level: bad, Writer: &buf}); err == nil {
			t.Errorf("level %q: got nil error", bad)
		}
	}
}
