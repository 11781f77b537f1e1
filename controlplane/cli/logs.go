package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func (a *app) logsCmd() *cobra.Command {
	req := &edgeplanev1.QueryLogsRequest{}
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Search the control plane's logs (QueryLogs)",
		Long: `logs prints log records of the control planes (logs:all:stream) by trace, component and
minimum level, over the last --since (default 1h), at most --limit of them.`,
		Example: `  edgeplane logs --level warn
  edgeplane logs --component fanout --since 10m
  edgeplane logs --trace 4bf92f3577b34da6a3ce929d0e0e4736 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Level = strings.ToUpper(req.Level)
			if since > 0 {
				req.StartTime = timestamppb.New(time.Now().Add(-since))
			}
			return a.with(func(c *clients) error {
				res, err := c.telemet.QueryLogs(cmd.Context(), req)
				if err != nil {
					return err
				}
				return a.printEntries(cmd.OutOrStdout(), res.GetEntries())
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&req.TraceId, "trace", "", "only records of this trace")
	fs.StringVar(&req.Component, "component", "", "only records of this component")
	fs.StringVar(&req.Level, "level", "", "minimum level: debug, info, warn or error")
	fs.DurationVar(&since, "since", 0, "how far back to look (default: the last hour)")
	fs.Int32Var(&req.Limit, "limit", 100, "at most this many records (up to 1000)")
	return cmd
}
