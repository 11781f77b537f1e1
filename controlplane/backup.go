package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
)

const backupUsage = `usage:
  edgeplane-control backup  --redis-url URL [--namespace NS] > edgeplane.backup
  edgeplane-control restore --redis-url URL [--namespace NS] [--replace] < edgeplane.backup

backup writes the whole config state (routes, certificates with their private keys still
sealed, services, port leases, tokens, the cluster CA, agents, the changelog) as JSON lines.
restore writes it into a Redis that holds no config (--replace overwrites one), in one
transaction. Restored private keys open only with the same --secrets-key-file.`

// runBackup runs `backup` (restore false) or `restore`.
func runBackup(args []string, restore bool) error {
	name := "backup"
	if restore {
		name = "restore"
	}
	fs := flag.NewFlagSet("edgeplane-control "+name, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), backupUsage); fs.PrintDefaults() }
	redisURL := fs.String("redis-url", "", "Redis URL of the state store (as for the control plane)")
	namespace := fs.String("namespace", "edgeplane", "prefix of every Redis key (as for the control plane)")
	replace := fs.Bool("replace", false, "restore: overwrite the config the store holds")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, closeStore, err := app.OpenStore(*redisURL, *namespace)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if restore {
		rev, n, err := st.RestoreBackup(ctx, io.LimitReader(os.Stdin, 1<<30), *replace)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		fmt.Fprintf(os.Stderr, "restored %d keys at revision %d\n", n, rev)
		return nil
	}
	rev, n, err := st.Backup(ctx, os.Stdout)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(os.Stderr, "backed up %d keys at revision %d\n", n, rev)
	return nil
}
