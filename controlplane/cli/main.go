// Command edgeplane is the operators' command line for an edgeplane control plane: it
// reads and changes routes, certificates, services, ports and tokens, applies a directory
// of YAML as one revision (ConfigService.ApplyConfig), and shows events, traces, metrics
// and alerts. It talks only to the gRPC API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var quiet *exitError
		if !errors.As(err, &quiet) {
			fmt.Fprintln(os.Stderr, "error:", describeErr(err))
		}
		os.Exit(1)
	}
}

// exitError is a failure already reported on stderr.
type exitError struct{ msg string }

func (e *exitError) Error() string { return e.msg }

// app is what every command shares: the connection settings and the output format.
type app struct {
	flags  connFlags
	output string
	color  string
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:   "edgeplane",
		Short: "Operate an edgeplane control plane",
		Long: `edgeplane reads and changes the config of an edgeplane control plane over its gRPC API.

The control plane's address, CA and token come from a context in
~/.config/edgeplane/config.yaml (like kubeconfig), overridden by EDGEPLANE_* variables
and by flags. Without any, it talks plaintext to 127.0.0.1:7000 (make run).`,
		Example: `  edgeplane get routes
  edgeplane apply -f config/ --dry-run
  edgeplane apply -f config/ --prune -l team=web --wait 30s
  edgeplane --context prod get agents -o yaml`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	a.flags.register(pf)
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table, yaml or json")
	pf.StringVar(&a.color, "color", "auto", "colour diffs: auto (when stdout is a terminal), always or never")
	root.AddCommand(a.getCmd(), a.describeCmd(), a.applyCmd(), a.diffCmd(), a.deleteCmd(), a.exportCmd(),
		a.eventsCmd(), a.logsCmd(), a.traceCmd(), a.topCmd(), a.alertsCmd(), a.configCmd())
	return root
}
