package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func (a *app) eventsCmd() *cobra.Command {
	var follow bool
	req := &edgeplanev1.TailEventsRequest{}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print domain events (route_changed, agent_connected, ...)",
		Long: `events prints the events stream from its oldest kept entry; with --follow it keeps printing
new events until Ctrl-C.`,
		Example: `  edgeplane events
  edgeplane events --follow --type route_changed,config_rejected
  edgeplane events --trace 4bf92f3577b34da6a3ce929d0e0e4736 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.AfterId == "" {
				req.AfterId = "0"
			}
			return a.with(func(c *clients) error {
				stream, err := c.telemet.TailEvents(cmd.Context(), req)
				if err != nil {
					return err
				}
				return a.printEvents(cmd, stream, follow)
			})
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	fs.StringSliceVar(&req.EventTypes, "type", nil, "only these event types")
	fs.StringVar(&req.Component, "component", "", "only events of this component")
	fs.StringVar(&req.TraceId, "trace", "", "only events of this trace")
	fs.StringVar(&req.AfterId, "after", "", "start after this stream id (default: the oldest kept)")
	return cmd
}

// eventStream is TailEvents' client stream.
type eventStream interface {
	Recv() (*edgeplanev1.TailEventsResponse, error)
}

// idleCutoff ends a non-following events listing once the backlog is printed.
const idleCutoff = 500 * time.Millisecond

func (a *app) printEvents(cmd *cobra.Command, stream eventStream, follow bool) error {
	out := cmd.OutOrStdout()
	type recv struct {
		res *edgeplanev1.TailEventsResponse
		err error
	}
	ch := make(chan recv)
	go func() {
		for {
			res, err := stream.Recv()
			ch <- recv{res, err}
			if err != nil {
				return
			}
		}
	}()
	for {
		var r recv
		if follow {
			r = <-ch
		} else {
			select {
			case r = <-ch:
			case <-time.After(idleCutoff):
				return nil
			}
		}
		if r.err == io.EOF || cmd.Context().Err() != nil {
			return nil
		}
		if r.err != nil {
			return r.err
		}
		if err := a.printEntry(out, r.res.GetEvent()); err != nil {
			return err
		}
	}
}

// printEntry prints one stream entry: a line (table) or a JSON/YAML object.
func (a *app) printEntry(w io.Writer, e *edgeplanev1.StreamEntry) error {
	if a.output != "table" {
		return a.printOne(w, e)
	}
	f := e.GetFields()
	keys := make([]string, 0, len(f))
	for k := range f {
		if k != "event_type" && k != "time" && k != "msg" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s", e.GetTime().AsTime().UTC().Format(time.RFC3339Nano), firstOf(f["event_type"], f["msg"]))
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, f[k])
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}

func (a *app) traceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "trace TRACE_ID",
		Short: "Print every record of one trace (request, logs, events)",
		Example: `  edgeplane trace 4bf92f3577b34da6a3ce929d0e0e4736
  edgeplane trace 4bf92f3577b34da6a3ce929d0e0e4736 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.with(func(c *clients) error {
				res, err := c.telemet.GetTrace(cmd.Context(), &edgeplanev1.GetTraceRequest{TraceId: args[0]})
				if err != nil {
					return err
				}
				return a.printEntries(cmd.OutOrStdout(), res.GetEntries())
			})
		},
	}
}

func (a *app) topCmd() *cobra.Command {
	var host string
	var window, every time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Per-host and per-route request rates, errors and latencies",
		Long:  `top shows GetMetrics over the last --window, refreshed every --interval until Ctrl-C (--once: print once).`,
		Example: `  edgeplane top
  edgeplane top --host shop.example.com --window 5m
  edgeplane top --once -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.dial()
			if err != nil {
				return err
			}
			defer c.conn.Close()
			for {
				res, err := c.telemet.GetMetrics(cmd.Context(), &edgeplanev1.GetMetricsRequest{Host: host, Window: durationpb.New(window)})
				if err != nil {
					return err
				}
				if !once && a.output == "table" {
					fmt.Fprint(cmd.OutOrStdout(), "\x1b[H\x1b[2J")
				}
				if err := a.printMetrics(cmd.OutOrStdout(), res, window); err != nil || once {
					return err
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&host, "host", "", "only this host")
	fs.DurationVar(&window, "window", time.Minute, "the window rates are computed over")
	fs.DurationVar(&every, "interval", 2*time.Second, "refresh interval")
	fs.BoolVar(&once, "once", false, "print once and exit")
	return cmd
}

func (a *app) printMetrics(w io.Writer, res *edgeplanev1.GetMetricsResponse, window time.Duration) error {
	rows := append([]*edgeplanev1.TrafficMetrics{}, res.GetMetrics()...)
	if res.GetTotal() != nil {
		t := proto.CloneOf(res.GetTotal())
		t.Host = firstOf(t.GetHost(), "TOTAL")
		rows = append(rows, t)
	}
	return a.printList(w, msgs(rows), table{[]string{"HOST", "ROUTE", "REQ/S", "ERRORS", "P50", "P95", "P99", "IN", "OUT"}, func(m proto.Message) []string {
		t := m.(*edgeplanev1.TrafficMetrics)
		rate := float64(t.GetRequests()) / window.Seconds()
		return []string{t.GetHost(), firstOf(t.GetRoute(), "-"), fmt.Sprintf("%.1f", rate), fmt.Sprintf("%.1f%%", 100*t.GetErrorRate()),
			t.GetP50().AsDuration().String(), t.GetP95().AsDuration().String(), t.GetP99().AsDuration().String(),
			itoa(t.GetBytesIn()), itoa(t.GetBytesOut())}
	}})
}

func (a *app) alertsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "alerts",
		Short:   "List firing alerts",
		Example: "  edgeplane alerts\n  edgeplane alerts -o yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.with(func(c *clients) error {
				res, err := c.telemet.ListAlerts(cmd.Context(), &edgeplanev1.ListAlertsRequest{})
				if err != nil {
					return err
				}
				return a.printList(cmd.OutOrStdout(), msgs(res.GetAlerts()), alertsTable)
			})
		},
	}
}

var alertsTable = table{[]string{"NAME", "SEVERITY", "SINCE", "LABELS", "SUMMARY"}, func(m proto.Message) []string {
	al := m.(*edgeplanev1.FiringAlert)
	var ls []string
	for k, v := range al.GetLabels() {
		ls = append(ls, k+"="+v)
	}
	sort.Strings(ls)
	return []string{al.GetName(), al.GetSeverity(), age(al.GetStartsAt()), strings.Join(ls, ","), al.GetSummary()}
}}

// printEntries prints stream entries one by one (printEntry).
func (a *app) printEntries(w io.Writer, entries []*edgeplanev1.StreamEntry) error {
	for _, e := range entries {
		if err := a.printEntry(w, e); err != nil {
			return err
		}
	}
	return nil
}
