package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

const tokenUsage = `usage: edgeplane-control token create --name NAME --role admin|operator|viewer [--ttl 720h]
       edgeplane-control token list
       edgeplane-control token delete --name NAME
each with --redis-url URL [--namespace NS] (or EDGEPLANE_REDIS_URL, EDGEPLANE_NAMESPACE)`

// runToken manages admin tokens in Redis directly, so the first admin token can be made
// before anyone can call the API. create prints the secret, alone, on stdout.
func runToken(args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, tokenUsage)
		return errors.New("token: a subcommand is required")
	}
	fs := flag.NewFlagSet("edgeplane-control token "+args[0], flag.ContinueOnError)
	redisURL := fs.String("redis-url", "", "Redis URL of the state store (as for the control plane)")
	namespace := fs.String("namespace", "edgeplane", "prefix of every Redis key (as for the control plane)")
	name := fs.String("name", "", "token name: lowercase letters, digits and '-'")
	role := fs.String("role", "", "role: admin, operator or viewer")
	ttl := fs.Duration("ttl", 0, "lifetime, e.g. 720h (default: no expiry)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	admin, closeStore, err := app.OpenTokenAdmin(*redisURL, *namespace)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch args[0] {
	case "create":
		t, secret, err := admin.Create(ctx, *name, *role, *ttl)
		if err != nil {
			return fmt.Errorf("creating token: %w", err)
		}
		fmt.Fprintf(os.Stderr, "token %q (role %s) created; it is shown only now:\n", t.Name, t.Role)
		fmt.Println(secret)
		return nil
	case "list":
		return listTokens(ctx, admin)
	case "delete":
		if err := admin.Delete(ctx, *name); err != nil {
			return fmt.Errorf("deleting token %q: %w", *name, err)
		}
		fmt.Fprintf(os.Stderr, "token %q deleted (replicas forget it within 5s)\n", *name)
		return nil
	}
	fmt.Fprintln(os.Stderr, tokenUsage)
	return fmt.Errorf("token: unknown subcommand %q", args[0])
}

func listTokens(ctx context.Context, admin interface {
	List(context.Context) ([]store.Token, error)
}) error {
	all, err := admin.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tROLE\tCREATED\tEXPIRES")
	for _, t := range all {
		expires := "never"
		if !t.ExpireTime.IsZero() {
			expires = t.ExpireTime.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreateTime.Format(time.RFC3339), expires)
	}
	return w.Flush()
}
