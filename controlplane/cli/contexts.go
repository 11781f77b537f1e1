package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and edit the contexts file",
		Long: `config edits ~/.config/edgeplane/config.yaml (or --config / EDGEPLANE_CONFIG): named
contexts with a control plane's address, CA (file or pin) and token, like kubeconfig.`,
		Example: `  edgeplane config set-context prod --address cp.example.com:7000 --ca-file ca.pem --token-file ~/.edgeplane-token
  edgeplane config set-context dev --address 127.0.0.1:7000 --insecure
  edgeplane config use-context prod
  edgeplane config view`,
	}
	cmd.AddCommand(a.configViewCmd(), a.useContextCmd(), a.setContextCmd())
	return cmd
}

func (a *app) configPath() (string, error) {
	if p := firstOf(a.flags.configPath, os.Getenv("EDGEPLANE_CONFIG")); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "edgeplane", "config.yaml"), nil
}

func (a *app) loadFile() (string, *fileConfig, error) {
	path, err := a.configPath()
	if err != nil {
		return "", nil, err
	}
	fc := &fileConfig{}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return path, fc, nil
	}
	if err != nil {
		return "", nil, err
	}
	return path, fc, yaml.Unmarshal(b, fc)
}

func saveFile(path string, fc *fileConfig) error {
	b, err := yaml.Marshal(fc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600) // it may hold tokens
}

func (a *app) configViewCmd() *cobra.Command {
	return &cobra.Command{
		Use: "view", Short: "Print the contexts file (tokens hidden)", Args: cobra.NoArgs,
		Example: "  edgeplane config view",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, fc, err := a.loadFile()
			if err != nil {
				return err
			}
			for i := range fc.Contexts {
				if fc.Contexts[i].Token != "" {
					fc.Contexts[i].Token = "REDACTED"
				}
			}
			b, err := yaml.Marshal(fc)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}

func (a *app) useContextCmd() *cobra.Command {
	return &cobra.Command{
		Use: "use-context NAME", Short: "Make NAME the current context", Args: cobra.ExactArgs(1),
		Example: "  edgeplane config use-context prod",
		RunE: func(cmd *cobra.Command, args []string) error {
			path, fc, err := a.loadFile()
			if err != nil {
				return err
			}
			for _, c := range fc.Contexts {
				if c.Name == args[0] {
					fc.CurrentContext = args[0]
					return saveFile(path, fc)
				}
			}
			return fmt.Errorf("%s has no context %q (add it with config set-context)", path, args[0])
		},
	}
}

func (a *app) setContextCmd() *cobra.Command {
	var tokenFile string
	cmd := &cobra.Command{
		Use: "set-context NAME", Short: "Add or replace a context from the connection flags", Args: cobra.ExactArgs(1),
		Example: `  edgeplane config set-context prod --address cp.example.com:7000 --ca-pin sha256:… --token-file ~/.edgeplane-token`,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, fc, err := a.loadFile()
			if err != nil {
				return err
			}
			c := a.flags.conf
			c.Name, c.TokenFile = args[0], tokenFile
			if c.Address == "" {
				return fmt.Errorf("set-context needs --address")
			}
			replaced := false
			for i := range fc.Contexts {
				if fc.Contexts[i].Name == c.Name {
					fc.Contexts[i], replaced = c, true
				}
			}
			if !replaced {
				fc.Contexts = append(fc.Contexts, c)
			}
			if fc.CurrentContext == "" {
				fc.CurrentContext = c.Name
			}
			return saveFile(path, fc)
		},
	}
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "read the token from this file at each use")
	return cmd
}
