package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// applyOpts are apply's and diff's flags.
type applyOpts struct {
	files     []string
	recursive bool
	dryRun    bool
	prune     bool
	selector  map[string]string
	wait      time.Duration
}

func (o *applyOpts) register(cmd *cobra.Command, withWrite bool) {
	fs := cmd.Flags()
	fs.StringArrayVarP(&o.files, "filename", "f", nil, "file or directory of YAML/JSON objects (repeatable; - for stdin)")
	fs.BoolVarP(&o.recursive, "recursive", "R", false, "read directories' subdirectories too")
	fs.BoolVar(&o.prune, "prune", false, "delete routes, certificates and services matching -l that the files do not name")
	fs.StringToStringVarP(&o.selector, "selector", "l", nil, "labels (k=v,...) an object must carry to be pruned")
	if withWrite {
		fs.BoolVar(&o.dryRun, "dry-run", false, "print what would change; store nothing")
		fs.DurationVar(&o.wait, "wait", 30*time.Second, "wait this long for every connected agent to serve the change (0: do not wait)")
	}
	_ = cmd.MarkFlagRequired("filename")
}

func (a *app) applyCmd() *cobra.Command {
	o := &applyOpts{}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR ...",
		Short: "Make the config match files, in one revision",
		Long: `apply sends every route and certificate in the files to ConfigService.ApplyConfig: they
are created or replaced in ONE revision, all or nothing, so agents go from the old config to
the new one in a single step. Objects already as declared are left alone. With --prune,
routes and certificates whose labels match -l and that the files do not name are deleted in
the same revision. An etag in a file is a precondition (the apply fails with Aborted if the
object changed since).

Each document has a kind (Route, Certificate or Service) and the API's fields. Certificates
are declared by reference (name, domains, acmeDirectory, labels): the control plane obtains
them; private keys never go in files. Services (Docker) are created and changed before the
routes' revision and pruned after it, each in its own step; a failure undoes the apply's
service changes and stores nothing else. Declaring services needs the admin role unless the
control plane runs with --docker-create-role operator.`,
		Example: `  edgeplane apply -f routes/ --dry-run            # coloured diff, nothing stored
  edgeplane apply -f routes/                      # apply, then wait for the fleet
  edgeplane apply -f routes/ --prune -l team=web  # also delete team=web objects not in routes/
  cat route.yaml | edgeplane apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.apply(cmd, o) },
	}
	o.register(cmd, true)
	return cmd
}

func (a *app) diffCmd() *cobra.Command {
	o := &applyOpts{dryRun: true}
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR ...",
		Short: "Show what apply would change",
		Long:  `diff is apply --dry-run: it prints what applying the files would create, change (with field paths) and delete.`,
		Example: `  edgeplane diff -f routes/
  edgeplane diff -f routes/ --prune -l team=web -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.apply(cmd, o) },
	}
	o.register(cmd, false)
	return cmd
}

func (a *app) apply(cmd *cobra.Command, o *applyOpts) error {
	d, err := readSources(o.files, o.recursive, cmd.InOrStdin())
	if err != nil {
		return err
	}
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.conn.Close()
	res, err := c.config.ApplyConfig(cmd.Context(), &edgeplanev1.ApplyConfigRequest{Routes: d.routes, Certificates: d.certs,
		Services: d.svcs, DryRun: o.dryRun, Prune: o.prune, Selector: o.selector})
	if err != nil {
		return reportApplyErr(cmd.ErrOrStderr(), d, err)
	}
	out := cmd.OutOrStdout()
	if a.output != "table" {
		return a.printOne(out, res)
	}
	printDiff(out, res.GetChanges(), a.colors())
	switch {
	case res.GetDryRun():
		fmt.Fprintln(out, "dry run: nothing was stored")
	case res.GetRevision() == 0:
		fmt.Fprintln(out, "nothing to change")
	default:
		fmt.Fprintf(out, "applied at revision %d\n", res.GetRevision())
		if o.wait > 0 {
			return a.waitFleet(cmd, c, res.GetRevision(), o.wait)
		}
	}
	return nil
}

// reportApplyErr prints an apply's failure, each bad field with the file it came from.
func reportApplyErr(w io.Writer, d *declared, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var lines []string
	for _, det := range st.Details() {
		if br, ok := det.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				lines = append(lines, fmt.Sprintf("  %s: %s", d.locate(v.GetField()), v.GetDescription()))
			}
		}
	}
	if len(lines) == 0 {
		return err
	}
	fmt.Fprintf(w, "error: %s: nothing was applied\n%s\n", st.Code(), strings.Join(lines, "\n"))
	return &exitError{msg: st.Message()}
}

// printDiff prints one line per change that is not UNCHANGED, then a count of each action.
func printDiff(w io.Writer, changes []*edgeplanev1.ConfigChange, color bool) {
	counts := map[edgeplanev1.ConfigAction]int{}
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	for _, ch := range changes {
		counts[ch.GetAction()]++
		obj := ch.GetKind() + "/" + ch.GetName()
		switch ch.GetAction() {
		case edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED:
			fmt.Fprintln(w, paint("32", "+ "+obj+" created"))
		case edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED:
			fmt.Fprintln(w, paint("33", "~ "+obj+" changed: "+strings.Join(ch.GetFields(), ", ")))
		case edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED:
			fmt.Fprintln(w, paint("31", "- "+obj+" deleted"))
		}
	}
	fmt.Fprintf(w, "%d created, %d changed, %d deleted, %d unchanged\n",
		counts[edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED], counts[edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED],
		counts[edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED], counts[edgeplanev1.ConfigAction_CONFIG_ACTION_UNCHANGED])
}

var errRejected = errors.New("agents rejected the revision")
