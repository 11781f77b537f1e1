package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
)

func TestStreamRetentionFlag_KeepsValidListsAndRefusesBadOnesWithAMessage(t *testing.T) {
	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"--stream-retention", "logs:request:stream=24h,events:all:stream=100000"}, want: "logs:request:stream=24h,events:all:stream=100000"},
		{args: []string{"--stream-retention", "logs:request:stream=24h", "--stream-retention", "logs:request:stream=2000000"}, want: "logs:request:stream=24h,logs:request:stream=2000000"},
		{args: []string{"--stream-retention", "logs:nope:stream=1h"}, wantErr: `unknown stream "logs:nope:stream": use one of logs:all:stream`},
		{args: []string{"--stream-retention", "logs:request:stream=soon"}, wantErr: "want an age"},
		{args: []string{"--stream-retention", "logs:request:stream=1s"}, wantErr: "an age must be from 10s"},
		{args: []string{"--stream-retention", "logs:request:stream=10"}, wantErr: "a length must be from 1000"},
		{args: []string{"--stream-retention", "logs:request:stream"}, wantErr: "want stream=age or stream=length"},
		{args: []string{"--stream-retention", "alerts:stream=1h,alerts:stream=2h"}, wantErr: "age given twice"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var got app.TelemetryConfig
		telemetryFlags(fs, &got)
		err := fs.Parse(tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: got error %v, want one containing %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.StreamRetention != tt.want {
			t.Errorf("%v: got %q, %v; want %q", tt.args, got.StreamRetention, err, tt.want)
		}
	}
}
