package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
)

func (a *app) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get RESOURCE [NAME]",
		Short: "List resources, or show one",
		Long: `get lists routes, agents, certificates, services, ports or tokens (one per row), or
shows one by name. -o yaml and -o json print every field.`,
		Example: `  edgeplane get routes
  edgeplane get agents -o wide
  edgeplane get route api -o yaml
  edgeplane get certificates -o json`,
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: resourceNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.output == "wide" {
				a.output = "table"
			}
			return a.show(cmd, args, false)
		},
	}
}

func (a *app) describeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe RESOURCE NAME",
		Short: "Show every field of one resource",
		Long:  `describe prints one route, agent, certificate or service with all of its fields (YAML unless -o json).`,
		Example: `  edgeplane describe route api
  edgeplane describe agent edge-1
  edgeplane describe certificate shop -o json`,
		Args:      cobra.ExactArgs(2),
		ValidArgs: resourceNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.show(cmd, args, true)
		},
	}
}

// show runs get or describe.
func (a *app) show(cmd *cobra.Command, args []string, describe bool) error {
	res, err := findResource(args[0])
	if err != nil {
		return err
	}
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.conn.Close()
	ctx := cmd.Context()
	if len(args) == 2 {
		return a.showOne(cmd, c, res, args[1], describe)
	}
	items, err := res.list(ctx, c)
	if err != nil {
		return err
	}
	return a.printList(cmd.OutOrStdout(), items, res.table)
}

func (a *app) showOne(cmd *cobra.Command, c *clients, res *resource, name string, describe bool) error {
	ctx := cmd.Context()
	if res.get == nil {
		items, err := res.list(ctx, c) // ports and tokens have no Get: pick from the list
		if err != nil {
			return err
		}
		for _, m := range items {
			if row := res.table.row(m); row[0] == name {
				return a.printFound(cmd, m, res, describe)
			}
		}
		return fmt.Errorf("%s %q not found", res.names[1], name)
	}
	m, err := res.get(ctx, c, name)
	if err != nil {
		return err
	}
	return a.printFound(cmd, m, res, describe)
}

func (a *app) printFound(cmd *cobra.Command, m proto.Message, res *resource, describe bool) error {
	if describe || a.output != "table" {
		return a.printOne(cmd.OutOrStdout(), m)
	}
	return a.printList(cmd.OutOrStdout(), []proto.Message{m}, res.table)
}
