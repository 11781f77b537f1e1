package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// resource is a kind `get` and `describe` know.
type resource struct {
	names []string // "routes", "route", "rt"
	list  func(ctx context.Context, c *clients) ([]proto.Message, error)
	get   func(ctx context.Context, c *clients, name string) (proto.Message, error)
	table table
}

// pageSize is the page size the CLI lists with.
const pageSize = 500

var resources = []resource{
	{
		names: []string{"routes", "route", "rt"},
		list: func(ctx context.Context, c *clients) ([]proto.Message, error) {
			rs, err := listRoutes(ctx, c)
			return msgs(rs), err
		},
		get: func(ctx context.Context, c *clients, name string) (proto.Message, error) {
			res, err := c.routes.GetRoute(ctx, &edgeplanev1.GetRouteRequest{Name: name})
			return res.GetRoute(), err
		},
		table: table{[]string{"NAME", "HOSTS", "PATH", "BACKEND", "TLS", "PRIORITY", "REVISION"}, func(m proto.Message) []string {
			r := m.(*edgeplanev1.Route)
			return []string{r.GetName(), strings.Join(r.GetHosts(), ","), firstOf(r.GetPathPrefix(), "/"), backend(r),
				strings.TrimPrefix(r.GetTls().GetMode().String(), "TLS_MODE_"), itoa(int64(r.GetPriority())), itoa(r.GetRevision())}
		}},
	},
	{
		names: []string{"agents", "agent", "ag"},
		list: func(ctx context.Context, c *clients) ([]proto.Message, error) {
			as, err := listAgents(ctx, c)
			return msgs(as), err
		},
		get: func(ctx context.Context, c *clients, name string) (proto.Message, error) {
			res, err := c.fleet.GetAgent(ctx, &edgeplanev1.GetAgentRequest{NodeId: name})
			return res.GetAgent(), err
		},
		table: table{[]string{"NODE", "CONNECTED", "REVISION", "VERSION", "REPLICA", "LAST SEEN", "LAST ERROR"}, func(m proto.Message) []string {
			a := m.(*edgeplanev1.Agent)
			return []string{a.GetNodeId(), strconv.FormatBool(a.GetConnected()), itoa(a.GetAppliedRevision()), a.GetVersion(),
				a.GetReplica(), age(a.GetLastSeen()), a.GetLastError()}
		}},
	},
	{
		names: []string{"certificates", "certificate", "cert", "certs"},
		list: func(ctx context.Context, c *clients) ([]proto.Message, error) {
			cs, err := listCertificates(ctx, c)
			return msgs(cs), err
		},
		get: func(ctx context.Context, c *clients, name string) (proto.Message, error) {
			res, err := c.certs.GetCertificate(ctx, &edgeplanev1.GetCertificateRequest{Name: name})
			return res.GetCertificate(), err
		},
		table: table{[]string{"NAME", "DOMAINS", "SOURCE", "STATUS", "NOT AFTER", "LAST ERROR"}, func(m proto.Message) []string {
			c := m.(*edgeplanev1.Certificate)
			return []string{c.GetName(), strings.Join(c.GetDomains(), ","), strings.TrimPrefix(c.GetSource().String(), "CERTIFICATE_SOURCE_"),
				strings.TrimPrefix(c.GetStatus().String(), "CERTIFICATE_STATUS_"), when(c.GetNotAfter()), c.GetLastError()}
		}},
	},
	{
		names: []string{"services", "service", "svc"},
		list: func(ctx context.Context, c *clients) ([]proto.Message, error) {
			var out []proto.Message
			token := ""
			for {
				res, err := c.docker.ListServices(ctx, &edgeplanev1.ListServicesRequest{PageSize: pageSize, PageToken: token})
				if err != nil {
					return nil, err
				}
				out = append(out, msgs(res.GetServices())...)
				if token = res.GetNextPageToken(); token == "" {
					return out, nil
				}
			}
		},
		get: func(ctx context.Context, c *clients, name string) (proto.Message, error) {
			res, err := c.docker.GetService(ctx, &edgeplanev1.GetServiceRequest{Name: name})
			return res.GetService(), err
		},
		table: table{[]string{"NAME", "IMAGE", "STATE", "HEALTH", "HOST PORT", "ENDPOINT"}, func(m proto.Message) []string {
			s := m.(*edgeplanev1.Service)
			return []string{s.GetName(), s.GetImage(), strings.TrimPrefix(s.GetState().String(), "SERVICE_STATE_"), s.GetHealthStatus(),
				itoa(int64(s.GetHostPort())), s.GetEndpoint()}
		}},
	},
	{
		names: []string{"ports", "port"},
		list: func(ctx context.Context, c *clients) ([]proto.Message, error) {
			var out []proto.Message
			token := ""
			for {
				res, err := c.ports.ListPorts(ctx, &edgeplanev1.ListPortsRequest{PageSize: pageSize, PageToken: token})
				if err != nil {
					return nil, err
				}
				out = append(out, msgs(res.GetPorts())...)
				if token = res.GetNextPageToken(); token == "" {
					return out, nil
				}
			}
		},
		table: table{[]string{"PORT", "HOST", "PURPOSE", "OWNER", "ALLOCATED"}, func(m proto.Message) []string {
			p := m.(*edgeplanev1.Port)
			return []string{itoa(int64(p.GetPort())), p.GetHost(), p.GetPurpose(), p.GetOwner(), age(p.GetAllocateTime())}
		}},
	},
	{
		names: []string{"tokens", "token"},
		list: func(ctx context.Context, c *clients) ([]proto.Message, error) {
			res, err := c.tokens.ListTokens(ctx, &edgeplanev1.ListTokensRequest{})
			return msgs(res.GetTokens()), err
		},
		table: table{[]string{"NAME", "ROLE", "CREATED", "EXPIRES"}, func(m proto.Message) []string {
			t := m.(*edgeplanev1.Token)
			return []string{t.GetName(), t.GetRole(), when(t.GetCreateTime()), when(t.GetExpireTime())}
		}},
	},
}

func findResource(name string) (*resource, error) {
	var known []string
	for i := range resources {
		for _, n := range resources[i].names {
			if n == strings.ToLower(name) {
				return &resources[i], nil
			}
		}
		known = append(known, resources[i].names[0])
	}
	return nil, fmt.Errorf("unknown resource %q: use one of %s", name, strings.Join(known, ", "))
}

func resourceNames() []string {
	var out []string
	for _, r := range resources {
		out = append(out, r.names[0])
	}
	return out
}

func listRoutes(ctx context.Context, c *clients) ([]*edgeplanev1.Route, error) {
	var out []*edgeplanev1.Route
	token := ""
	for {
		res, err := c.routes.ListRoutes(ctx, &edgeplanev1.ListRoutesRequest{PageSize: pageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, res.GetRoutes()...)
		if token = res.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

func listAgents(ctx context.Context, c *clients) ([]*edgeplanev1.Agent, error) {
	var out []*edgeplanev1.Agent
	token := ""
	for {
		res, err := c.fleet.ListAgents(ctx, &edgeplanev1.ListAgentsRequest{PageSize: pageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, res.GetAgents()...)
		if token = res.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

func listCertificates(ctx context.Context, c *clients) ([]*edgeplanev1.Certificate, error) {
	var out []*edgeplanev1.Certificate
	token := ""
	for {
		res, err := c.certs.ListCertificates(ctx, &edgeplanev1.ListCertificatesRequest{PageSize: pageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, res.GetCertificates()...)
		if token = res.GetNextPageToken(); token == "" {
			sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
			return out, nil
		}
	}
}

func msgs[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

func backend(r *edgeplanev1.Route) string {
	if r.GetService() != "" {
		return "service/" + r.GetService()
	}
	var us []string
	for _, t := range r.GetTargets() {
		us = append(us, t.GetUrl())
	}
	return strings.Join(us, ",")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func age(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return time.Since(ts.AsTime()).Round(time.Second).String() + " ago"
}
