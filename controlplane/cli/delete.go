package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func (a *app) deleteCmd() *cobra.Command {
	var etag string
	cmd := &cobra.Command{
		Use:   "delete RESOURCE NAME...",
		Short: "Delete routes, certificates, services or tokens",
		Long: `delete removes each named object with its own call (one revision each); to delete several
routes in one revision, remove them from your files and apply with --prune.`,
		Example: `  edgeplane delete route api
  edgeplane delete route api --etag 12     # only if nobody changed it since revision 12
  edgeplane delete certificate shop
  edgeplane delete service web
  edgeplane delete token ci`,
		Args:      cobra.MinimumNArgs(2),
		ValidArgs: []string{"route", "certificate", "service", "token"},
		RunE: func(cmd *cobra.Command, args []string) error {
			del, err := deleter(args[0], etag)
			if err != nil {
				return err
			}
			c, err := a.dial()
			if err != nil {
				return err
			}
			defer c.conn.Close()
			for _, name := range args[1:] {
				if err := del(cmd.Context(), c, name); err != nil {
					return fmt.Errorf("deleting %s %q: %w", args[0], name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", args[0], name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&etag, "etag", "", "delete only if the object still has this etag")
	return cmd
}

func deleter(kind, etag string) (func(ctx context.Context, c *clients, name string) error, error) {
	res, err := findResource(kind)
	if err != nil {
		return nil, err
	}
	switch res.names[0] {
	case "routes":
		return func(ctx context.Context, c *clients, name string) error {
			_, err := c.routes.DeleteRoute(ctx, &edgeplanev1.DeleteRouteRequest{Name: name, Etag: etag})
			return err
		}, nil
	case "certificates":
		return func(ctx context.Context, c *clients, name string) error {
			_, err := c.certs.DeleteCertificate(ctx, &edgeplanev1.DeleteCertificateRequest{Name: name, Etag: etag})
			return err
		}, nil
	case "services":
		return func(ctx context.Context, c *clients, name string) error {
			_, err := c.docker.DeleteService(ctx, &edgeplanev1.DeleteServiceRequest{Name: name, Etag: etag})
			return err
		}, nil
	case "tokens":
		return func(ctx context.Context, c *clients, name string) error {
			_, err := c.tokens.DeleteToken(ctx, &edgeplanev1.DeleteTokenRequest{Name: name})
			return err
		}, nil
	}
	return nil, fmt.Errorf("%s cannot be deleted here: use route, certificate, service or token", kind)
}
