package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

func TestResolve_FlagsBeatEnvironmentBeatContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	body := "current-context: prod\ncontexts:\n  - name: prod\n    address: cp.example.com:7000\n    ca-pin: sha256:ab\n    token: from-file\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGEPLANE_CONFIG", path)
	t.Setenv("EDGEPLANE_TOKEN", "from-env")
	var f connFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"--address", "other:7000"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != "other:7000" || got.Token != "from-env" || got.CAPin != "sha256:ab" {
		t.Errorf("got %+v, want address from the flag, token from the environment, pin from the context", got)
	}
}

func TestTransport_InsecureOnlyOnLoopback(t *testing.T) {
	if _, err := transport(contextConf{Address: "cp.example.com:7000", Insecure: true}); err == nil {
		t.Error("--insecure to a remote address: got nil error, want a refusal")
	}
	c, err := transport(contextConf{Address: "127.0.0.1:7000"})
	if err != nil || c.Info().SecurityProtocol != "insecure" {
		t.Errorf("loopback without a CA: got %v %v, want plaintext", c, err)
	}
	c, err = transport(contextConf{Address: "cp.example.com:7000"})
	if err != nil || c.Info().SecurityProtocol != "tls" {
		t.Errorf("remote without a CA: got %v %v, want TLS with the system roots", c, err)
	}
}
