package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
)

func TestTelemetryFlags_DefaultsAndBounds(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    app.TelemetryConfig
		wantErr bool
	}{
		{name: "defaults", want: app.TelemetryConfig{Retention: time.Hour, MaxRecords: 1_000_000}},
		{name: "set", args: []string{"--telemetry-redis-url", "redis://t:6380", "--telemetry-retention", "15m", "--telemetry-max-records", "5000"},
			want: app.TelemetryConfig{RedisURL: "redis://t:6380", Retention: 15 * time.Minute, MaxRecords: 5000}},
		{name: "retention too short", args: []string{"--telemetry-retention", "1s"}, wantErr: true},
		{name: "retention too long", args: []string{"--telemetry-retention", "200h"}, wantErr: true},
		{name: "retention not a duration", args: []string{"--telemetry-retention", "soon"}, wantErr: true},
		{name: "too few records", args: []string{"--telemetry-max-records", "10"}, wantErr: true},
		{name: "records not a number", args: []string{"--telemetry-max-records", "many"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var got app.TelemetryConfig
			telemetryFlags(fs, &got)
			err := fs.Parse(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
