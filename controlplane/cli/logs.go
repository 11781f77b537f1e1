package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// logsOpts are the logs command's flags that do not map one to one onto the request.
type logsOpts struct {
	status            string
	component, level  string
	minLatency, since time.Duration
	until             string
}

func (a *app) logsCmd() *cobra.Command {
	o := &logsOpts{}
	req := &edgeplanev1.QueryLogsRequest{Requests: true}
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Search request records, or the control plane's logs (QueryLogs), newest first",
		Long: `logs searches the agents' request records (logs:request:stream) by host, route, method,
status or status class, client IP, path prefix, minimum latency, trace id and time, newest
first, a page at a time. It prints how many records of the whole time range match ("at most"
when a filter the index only narrows applies, "at least" when no indexed filter was given and
the scan stopped at its bound; see the README) and, when there are more, the --page-token
that prints the next page.

With --component or --level it prints the control planes' own log records (logs:all:stream)
instead, by component, minimum level and trace.`,
		Example: `  edgeplane logs --host shop.example.com --status 5xx
  edgeplane logs --ip 203.0.113.7 --since 24h
  edgeplane logs --path /api/ --min-latency 500ms --limit 20
  edgeplane logs --status 404 --method GET -o json
  edgeplane logs --host shop.example.com --page-token MTc2NDYzMDg5ODE3MS0w
  edgeplane logs --level warn                     # the control plane's logs
  edgeplane logs --component fanout --since 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.fill(req, time.Now()); err != nil {
				return err
			}
			controlPlane := o.level != "" || o.component != ""
			if controlPlane {
				if err := o.controlPlane(req); err != nil {
					return err
				}
			}
			return a.with(func(c *clients) error {
				res, err := c.telemet.QueryLogs(cmd.Context(), req)
				switch {
				case err != nil:
					return err
				case controlPlane:
					return a.printEntries(cmd.OutOrStdout(), res.GetEntries())
				case a.output == "json" || a.output == "yaml":
					return a.printOne(cmd.OutOrStdout(), res)
				}
				return printLogs(cmd.OutOrStdout(), cmd.ErrOrStderr(), res)
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&req.Host, "host", "", "only this host")
	fs.StringVar(&req.Route, "route", "", "only this route")
	fs.StringVar(&req.Method, "method", "", "only this method (GET, POST, ...)")
	fs.StringVar(&o.status, "status", "", "only this status (404) or class (5xx)")
	fs.StringVar(&req.ClientIp, "ip", "", "only this client IP")
	fs.StringVar(&req.PathPrefix, "path", "", "only paths starting with this (/api/)")
	fs.DurationVar(&o.minLatency, "min-latency", 0, "only requests that took at least this long (250ms)")
	fs.StringVar(&req.TraceId, "trace", "", "only this trace id")
	fs.DurationVar(&o.since, "since", time.Hour, "how far back to search")
	fs.StringVar(&o.until, "until", "", "search records before this time (RFC 3339; default now)")
	fs.Int32Var(&req.Limit, "limit", 100, "records per page, at most 1000")
	fs.StringVar(&req.PageToken, "page-token", "", "print the page after the one that printed this token")
	fs.StringVar(&o.component, "component", "", "the control plane's logs: only records of this component")
	fs.StringVar(&o.level, "level", "", "the control plane's logs: minimum level (debug, info, warn or error)")
	return cmd
}

// controlPlane turns req into a search of the control plane's logs; request filters are
// refused there.
func (o *logsOpts) controlPlane(req *edgeplanev1.QueryLogsRequest) error {
	if req.Host != "" || req.Route != "" || req.Method != "" || req.Status != 0 || req.StatusClass != "" ||
		req.ClientIp != "" || req.PathPrefix != "" || req.MinLatency != nil || req.PageToken != "" {
		return fmt.Errorf("--component and --level search the control plane's logs: request filters do not apply")
	}
	req.Requests, req.Component, req.Level = false, o.component, strings.ToUpper(o.level)
	return nil
}

// fill completes req from the flags that need converting.
func (o *logsOpts) fill(req *edgeplanev1.QueryLogsRequest, now time.Time) error {
	switch s := strings.ToLower(o.status); {
	case s == "":
	case len(s) == 3 && strings.HasSuffix(s, "xx"):
		req.StatusClass = s
	default:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("--status %q: want a code (404) or a class (5xx)", o.status)
		}
		req.Status = int32(n)
	}
	if o.minLatency > 0 {
		req.MinLatency = durationpb.New(o.minLatency)
	}
	end := now
	if o.until != "" {
		t, err := time.Parse(time.RFC3339, o.until)
		if err != nil {
			return fmt.Errorf("--until %q: want an RFC 3339 time (2026-12-04T18:00:00Z)", o.until)
		}
		end = t
	}
	if o.since <= 0 {
		return fmt.Errorf("--since %s: want a positive duration", o.since)
	}
	req.EndTime, req.StartTime = timestamppb.New(end), timestamppb.New(end.Add(-o.since))
	return nil
}

// printLogs prints the records as a table on out, and the count and next page on info.
func printLogs(out, info io.Writer, res *edgeplanev1.QueryLogsResponse) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTATUS\tMETHOD\tHOST\tPATH\tLATENCY\tCLIENT\tROUTE\tTRACE")
	for _, e := range res.GetEntries() {
		f := e.GetFields()
		lat := f["duration_us"]
		if us, err := strconv.ParseInt(lat, 10, 64); err == nil {
			lat = (time.Duration(us) * time.Microsecond).String()
		}
		fmt.Fprintln(tw, strings.Join([]string{e.GetTime().AsTime().UTC().Format("2006-01-02T15:04:05.000Z"), f["status"], f["method"],
			f["host"], f["path"], lat, f["client"], f["route"], f["trace_id"]}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	count := strconv.FormatInt(res.GetTotalCount(), 10)
	switch {
	case res.GetCountLowerBound():
		count = "at least " + count
	case !res.GetCountExact():
		count = "at most " + count
	}
	fmt.Fprintf(info, "%d shown, %s matching in the time range (%d records examined)\n", len(res.GetEntries()), count, res.GetExamined())
	if t := res.GetNextPageToken(); t != "" {
		fmt.Fprintf(info, "next page: --page-token %s\n", t)
	}
	return nil
}
