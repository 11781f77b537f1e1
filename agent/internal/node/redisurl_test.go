package node

import (
	"strings"
	"testing"
)

// The agent takes the control plane's Redis URL forms for its request records, and refuses
// a bad one at start with a message naming the flag, without the password.
func TestNew_RedisURLForms(t *testing.T) {
	for _, tt := range []struct{ url, wantErr string }{
		{"redis://:pw@10.0.0.1:6379/0", ""},
		{"redis://:pw@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", ""},
		{"redis://:pw@s1:26379?master_name=edgeplane&addr=s2:26379", ""},
		{"http://:secret@h:1", "--redis-url"},
		{"redis://:secret@h:1?master_name=", "master_name is empty"},
	} {
		_, err := New(Config{ControlPlane: "127.0.0.1:1", NodeID: "n", HTTPAddr: "127.0.0.1:0",
			MetricsAddr: "127.0.0.1:0", RedisURL: tt.url})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: got %v, want it accepted", tt.url, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: got %v, want an error containing %q", tt.url, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("%s: error %q shows the password", tt.url, err)
		}
	}
}
