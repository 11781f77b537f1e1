package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/spf13/pflag"
)

// fileConfig is ~/.config/edgeplane/config.yaml:
//
//	current-context: prod
//	contexts:
//	  - name: prod
//	    address: cp.example.com:7000
//	    ca-file: /etc/edgeplane/ca.pem     # or ca-pin: sha256:...
//	    token: ep_...                       # or token-file: /path
//	  - name: dev
//	    address: 127.0.0.1:7000
//	    insecure: true
type fileConfig struct {
	CurrentContext string        `yaml:"current-context"`
	Contexts       []contextConf `yaml:"contexts"`
}

// contextConf is one control plane's connection settings.
type contextConf struct {
	Name      string `yaml:"name"`
	Address   string `yaml:"address"`
	CAFile    string `yaml:"ca-file,omitempty"`
	CAPin     string `yaml:"ca-pin,omitempty"`
	Token     string `yaml:"token,omitempty"`
	TokenFile string `yaml:"token-file,omitempty"`
	Insecure  bool   `yaml:"insecure,omitempty"`
}

// connFlags are the connection flags; a flag left unset falls back to its EDGEPLANE_*
// variable, then to the context.
type connFlags struct {
	configPath, context string
	conf                contextConf
	set                 *pflag.FlagSet
}

func (f *connFlags) register(fs *pflag.FlagSet) {
	f.set = fs
	fs.StringVar(&f.configPath, "config", "", "contexts file (env EDGEPLANE_CONFIG; default ~/.config/edgeplane/config.yaml)")
	fs.StringVar(&f.context, "context", "", "context to use (env EDGEPLANE_CONTEXT; default: current-context)")
	fs.StringVar(&f.conf.Address, "address", "", "control plane host:port (env EDGEPLANE_ADDRESS; default 127.0.0.1:7000)")
	fs.StringVar(&f.conf.CAFile, "ca-file", "", "PEM CA that signed the control plane's certificate (env EDGEPLANE_CA_FILE)")
	fs.StringVar(&f.conf.CAPin, "ca-pin", "", "trust the CA with this pin, sha256:<hex> (env EDGEPLANE_CA_PIN)")
	fs.StringVar(&f.conf.Token, "token", "", "bearer token (env EDGEPLANE_TOKEN)")
	fs.BoolVar(&f.conf.Insecure, "insecure", false, "plaintext, for a control plane on loopback only (env EDGEPLANE_INSECURE)")
}

// resolve merges the context, the environment and the flags, in rising precedence.
func (f *connFlags) resolve() (contextConf, error) {
	out, err := f.fromFile()
	if err != nil {
		return out, err
	}
	pick := func(dst *string, flag, env, val string) {
		if v := os.Getenv(env); v != "" {
			*dst = v
		}
		if f.set.Changed(flag) {
			*dst = val
		}
	}
	pick(&out.Address, "address", "EDGEPLANE_ADDRESS", f.conf.Address)
	pick(&out.CAFile, "ca-file", "EDGEPLANE_CA_FILE", f.conf.CAFile)
	pick(&out.CAPin, "ca-pin", "EDGEPLANE_CA_PIN", f.conf.CAPin)
	pick(&out.Token, "token", "EDGEPLANE_TOKEN", f.conf.Token)
	if v := os.Getenv("EDGEPLANE_INSECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return out, fmt.Errorf("EDGEPLANE_INSECURE=%q: want true or false", v)
		}
		out.Insecure = b
	}
	if f.set.Changed("insecure") {
		out.Insecure = f.conf.Insecure
	}
	if out.Address == "" {
		out.Address = "127.0.0.1:7000"
	}
	if out.Token == "" && out.TokenFile != "" {
		b, err := os.ReadFile(out.TokenFile)
		if err != nil {
			return out, fmt.Errorf("context %q: token-file: %w", out.Name, err)
		}
		out.Token = string(trimSpace(b))
	}
	return out, nil
}

// fromFile returns the chosen context of the contexts file; none when there is no file.
func (f *connFlags) fromFile() (contextConf, error) {
	path := firstOf(f.configPath, os.Getenv("EDGEPLANE_CONFIG"))
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return contextConf{}, nil
		}
		path = filepath.Join(dir, "edgeplane", "config.yaml")
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		if name := firstOf(f.context, os.Getenv("EDGEPLANE_CONTEXT")); name != "" {
			return contextConf{}, fmt.Errorf("context %q: no contexts file at %s", name, path)
		}
		return contextConf{}, nil
	}
	if err != nil {
		return contextConf{}, fmt.Errorf("reading contexts: %w", err)
	}
	var fc fileConfig
	if err := yaml.Unmarshal(b, &fc); err != nil {
		return contextConf{}, fmt.Errorf("%s: %w", path, err)
	}
	name := firstOf(f.context, os.Getenv("EDGEPLANE_CONTEXT"), fc.CurrentContext)
	if name == "" {
		return contextConf{}, nil
	}
	for _, c := range fc.Contexts {
		if c.Name == name {
			return c, nil
		}
	}
	return contextConf{}, fmt.Errorf("%s has no context %q", path, name)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
