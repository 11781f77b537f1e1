// Command edgeplane-agent is the edge proxy of an edgeplane fleet: it serves HTTP traffic
// with the routes the control plane streams to it, and keeps serving its cached config
// while the control plane is unreachable.
//
//	edgeplane-agent --control-plane cp.internal:7000 --node-id edge-1 --labels region=eu
//
// Every flag has an EDGEPLANE_* environment twin (--node-id: EDGEPLANE_NODE_ID); a flag
// given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/edgeplane/edgeplane/agent/internal/node"
	"github.com/edgeplane/edgeplane/agent/internal/procs"
	"github.com/edgeplane/edgeplane/internal/logging"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "edgeplane-agent:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	opts, err := parseFlags(args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if opts.version {
		fmt.Println("edgeplane-agent", agentVersion())
		return nil
	}
	log, err := logging.New(logging.Config{Format: opts.logFormat, Level: opts.logLevel, Writer: os.Stderr})
	if err != nil {
		return err
	}
	cfg := opts.config
	cfg.Version = agentVersion()
	cfg.Logger = log
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if v, ok := os.LookupEnv(node.WorkerEnv); ok {
		index, err := strconv.Atoi(v)
		if err != nil || index < 1 {
			return fmt.Errorf("%s=%q: not a worker number", node.WorkerEnv, v)
		}
		go procs.Run(ctx, log)
		return node.RunWorker(ctx, cfg, index)
	}
	cfg.WorkerCommand = workerCommand(args)
	a, err := node.New(cfg)
	if err != nil {
		return err
	}
	go procs.Run(ctx, log)
	return a.Run(ctx)
}

// workerCommand returns how to start a worker: this executable with the same arguments (and
// environment, so the same configuration). On Linux that is /proc/self/exe, the file this
// process runs even after a package upgrade replaced it on disk: a worker started again
// later is always the agent's own build, which the link between them needs.
func workerCommand(args []string) func(int) *exec.Cmd {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			exe = os.Args[0]
		}
	}
	return func(int) *exec.Cmd {
		cmd := exec.Command(exe, args...)
		cmd.Args[0] = os.Args[0] // as ps shows the agent
		return cmd
	}
}

func agentVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
