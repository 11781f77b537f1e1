package redisurl

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestOpen_URLForms(t *testing.T) {
	tests := []struct {
		url   string
		mode  Mode
		addrs []string
	}{
		{"redis://127.0.0.1:6379/0", Single, []string{"127.0.0.1:6379"}},
		{"rediss://:pw@r.example:6380", Single, []string{"r.example:6380"}},
		{"redis://:pw@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", Cluster,
			[]string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}},
		{"redis://:pw@s1:26379?master_name=edgeplane&addr=s2:26379&addr=s3:26379", Sentinel,
			[]string{"s1:26379", "s2:26379", "s3:26379"}},
		{"redis://s1:26379?master_name=m&password=data&dial_timeout=3", Sentinel, []string{"s1:26379"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := Open(tt.url, Tuning{PoolSize: 3})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()
			if c.Mode != tt.mode {
				t.Errorf("mode: got %s, want %s", c.Mode, tt.mode)
			}
			if d := cmp.Diff(tt.addrs, c.Addrs); d != "" {
				t.Errorf("addrs (-want +got):\n%s", d)
			}
		})
	}
}

func TestOpen_BadURLIsAClearErrorWithoutThePassword(t *testing.T) {
	tests := []struct{ url, want string }{
		{"", "empty"},
		{"http://:secret@h:1", "scheme must be redis:// or rediss://"},
		{"redis://:secret@h:1?master_name=", "master_name is empty"},
		{"redis://:secret@h:1?addr=h2:1&colour=blue", "colour"},
		{"redis://:secret@h:1?master_name=m&bogus=1", "bogus"},
		{"redis://:secret@h:1?bogus=1", "bogus"},
		{"redis://:secret@/0", "no host:port"},
		{"redis://:secret@h:1/x", "database"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := Validate(tt.url)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestOpen_SentinelUserinfoAuthenticatesBoth(t *testing.T) {
	o, err := failoverOptions("redis://u:pw@s1:26379?master_name=m")
	if err != nil {
		t.Fatal(err)
	}
	if o.Password != "pw" || o.SentinelPassword != "pw" || o.Username != "u" {
		t.Errorf("got password %q, sentinel password %q, user %q; want pw, pw, u", o.Password, o.SentinelPassword, o.Username)
	}
	o, err = failoverOptions("redis://:spw@s1:26379?master_name=m&password=dpw")
	if err != nil {
		t.Fatal(err)
	}
	if o.Password != "dpw" || o.SentinelPassword != "spw" {
		t.Errorf("got password %q, sentinel password %q; want dpw, spw", o.Password, o.SentinelPassword)
	}
}

func TestOpen_URLParametersWinOverTuning(t *testing.T) {
	c, err := Open("redis://h:1?pool_size=7", Tuning{PoolSize: 3, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.UniversalClient.(*redis.Client).Options()
	if got := o.PoolSize; got != 7 {
		t.Errorf("pool size: got %d, want 7", got)
	}
}
