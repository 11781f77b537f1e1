package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// fleetPoll is how often the progress line is refreshed.
const fleetPoll = 250 * time.Millisecond

// progress is how far a revision reached the connected agents.
type progress struct {
	acked    int
	pending  []string
	rejected []string // "node: error"
}

func fleetProgress(agents []*edgeplanev1.Agent, rev int64) progress {
	var p progress
	for _, a := range agents {
		switch {
		case !a.GetConnected():
		case a.GetAppliedRevision() >= rev:
			p.acked++
		case a.GetRejectedRevision() >= rev:
			p.rejected = append(p.rejected, a.GetNodeId()+": "+a.GetLastError())
		default:
			p.pending = append(p.pending, a.GetNodeId())
		}
	}
	return p
}

func (p progress) String() string {
	return fmt.Sprintf("%d acked, %d pending, %d rejected", p.acked, len(p.pending), len(p.rejected))
}

// waitFleet shows a progress line on stderr until every connected agent answered rev or
// timeout passes. Agents that rejected it make the command fail.
func (a *app) waitFleet(cmd *cobra.Command, c *clients, rev int64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	w := cmd.ErrOrStderr()
	t := time.NewTicker(fleetPoll)
	defer t.Stop()
	live := isTerminal(w) // a line redrawn in place; otherwise only the outcome
	var p progress
	for {
		agents, err := listAgents(ctx, c)
		if err == nil {
			p = fleetProgress(agents, rev)
			if live {
				fmt.Fprintf(w, "\rwaiting for the fleet at revision %d: %s ", rev, p)
			}
			if len(p.pending) == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "\rfleet at revision %d: %s\nstill pending after %s: %s\n", rev, p, timeout, strings.Join(p.pending, ", "))
			return finish(w, p)
		case <-t.C:
		}
	}
	fmt.Fprintf(w, "\rfleet at revision %d: %s\n", rev, p)
	return finish(w, p)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func finish(w io.Writer, p progress) error {
	if len(p.rejected) == 0 {
		return nil
	}
	fmt.Fprintf(w, "rejected (these agents keep serving their previous config):\n  %s\n", strings.Join(p.rejected, "\n  "))
	return &exitError{msg: errRejected.Error()}
}
