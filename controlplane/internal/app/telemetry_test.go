package app

import "testing"

func TestAgentTelemetry_URLOrNone(t *testing.T) {
	tests := []struct {
		name, url string
		want      bool
	}{
		{"none given", "", false},
		{"none asked for", NoAgentRedis, false},
		{"a URL", "redis://agents:pw@10.0.0.5:6379/0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&App{cfg: Config{AgentRedisURL: tt.url}}).agentTelemetry()
			if (got != nil) != tt.want || (got != nil && got.GetRedisUrl() != tt.url) {
				t.Errorf("got %v, want settings: %v", got, tt.want)
			}
		})
	}
}
