package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Names of certificates the control plane makes for routes by itself (not exported: the
// routes that need them bring them back).
var ownedPrefixes = []string{"acme-", "self-signed-"}

func (a *app) exportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Print the whole config as YAML that apply accepts",
		Long: `export prints every route, declared (ACME) certificate and Docker service as YAML documents, without
output-only fields (etag, revision, times, status): a backup, or a migration to another
cluster with apply. Uploaded certificates are not exported (their keys never leave the
control plane); upload them on the other cluster first.`,
		Example: `  edgeplane export > config.yaml
  edgeplane --context new-cluster apply -f config.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.with(func(c *clients) error {
				objs, err := exportable(cmd.Context(), c)
				if err != nil {
					return err
				}
				return writeDocs(cmd.OutOrStdout(), objs)
			})
		},
	}
}

// exportable returns the declared certificates, then the routes, without output-only
// fields.
func exportable(ctx context.Context, c *clients) ([]proto.Message, error) {
	certs, err := listCertificates(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []proto.Message
	for _, ce := range certs {
		if ce.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME || hasOwnedPrefix(ce.GetName()) {
			continue
		}
		out = append(out, &edgeplanev1.Certificate{Name: ce.GetName(), Domains: ce.GetDomains(),
			AcmeDirectory: ce.GetAcmeDirectory(), Labels: ce.GetLabels()})
	}
	svcs, err := exportServices(ctx, c)
	if err != nil {
		return nil, err
	}
	out = append(out, svcs...)
	routes, err := listRoutes(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		r = proto.CloneOf(r)
		r.Etag, r.Revision, r.CreateTime, r.UpdateTime = "", 0, nil, nil
		out = append(out, r)
	}
	return out, nil
}

// exportServices returns the Docker services' declared fields. host_port is left out (0
// keeps a service's port on its own cluster and takes any free one on another).
func exportServices(ctx context.Context, c *clients) ([]proto.Message, error) {
	r, err := findResource("services")
	if err != nil {
		return nil, err
	}
	res, err := r.list(ctx, c)
	if status.Code(err) == codes.Unimplemented {
		return nil, nil // Docker services are disabled on this control plane
	}
	if err != nil {
		return nil, err
	}
	out := make([]proto.Message, 0, len(res))
	for _, m := range res {
		s := m.(*edgeplanev1.Service)
		out = append(out, &edgeplanev1.Service{Name: s.GetName(), Image: s.GetImage(), Command: s.GetCommand(), Env: s.GetEnv(),
			ContainerPort: s.GetContainerPort(), MemoryLimit: s.GetMemoryLimit(), CpuLimit: s.GetCpuLimit(),
			RestartPolicy: s.GetRestartPolicy(), MaxRestarts: s.GetMaxRestarts(), Labels: s.GetLabels(), Health: s.GetHealth(),
			ReadOnlyRoot: s.GetReadOnlyRoot(), User: s.GetUser()})
	}
	return out, nil
}

func hasOwnedPrefix(name string) bool {
	for _, p := range ownedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// writeDocs writes each object as a YAML document with its kind first.
func writeDocs(w io.Writer, objs []proto.Message) error {
	for i, m := range objs {
		b, err := protojson.Marshal(m)
		if err != nil {
			return err
		}
		kind := string(m.ProtoReflect().Descriptor().Name())
		var doc bytes.Buffer
		doc.WriteString(`{"kind":` + fmt.Sprintf("%q", kind))
		if len(b) > 2 {
			doc.WriteByte(',')
			doc.Write(b[1:])
		} else {
			doc.WriteByte('}')
		}
		if !json.Valid(doc.Bytes()) {
			return fmt.Errorf("exporting %s: bad JSON", kind)
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if err := writeYAML(w, doc.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
