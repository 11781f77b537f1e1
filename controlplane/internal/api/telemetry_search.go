package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// maxFilterLen bounds every string filter of a request search.
const maxFilterLen = 256

// maxMinLatency bounds QueryLogsRequest.min_latency.
const maxMinLatency = time.Hour

// isRequestSearch reports whether req searches request records rather than the control
// plane's logs.
func isRequestSearch(req *edgeplanev1.QueryLogsRequest) bool {
	return req.GetRequests() || req.GetClientIp() != "" || req.GetHost() != "" || req.GetRoute() != "" ||
		req.GetMethod() != "" || req.GetStatus() != 0 || req.GetStatusClass() != "" || req.GetPathPrefix() != "" ||
		req.GetMinLatency() != nil || req.GetPageToken() != ""
}

// queryRequests answers a QueryLogs over the request stream (telemetry.SearchIndex).
func (h *Telemetry) queryRequests(ctx context.Context, req *edgeplanev1.QueryLogsRequest) (*edgeplanev1.QueryLogsResponse, error) {
	if h.Search == nil {
		return nil, status.Error(codes.Unavailable, "request search is not running on this replica")
	}
	q, err := requestQuery(req, clock.Now())
	if err != nil {
		return nil, err
	}
	page, err := h.Search.SearchRequests(ctx, h.Reader.Streams.Requests, q)
	if errors.Is(err, telemetry.ErrTooBroad) {
		return nil, invalid("start_time", err.Error())
	}
	if err != nil {
		return nil, unavailable(err)
	}
	res := &edgeplanev1.QueryLogsResponse{Entries: toProtoEntries(page.Entries), TotalCount: page.Total,
		CountExact: page.Exact, CountLowerBound: page.LowerBound, Examined: int64(page.Examined)}
	if page.Next != "" {
		res.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(page.Next))
	}
	return res, nil
}

// requestQuery validates req and returns its query; every bad field is named.
func requestQuery(req *edgeplanev1.QueryLogsRequest, now time.Time) (telemetry.RequestQuery, error) {
	var v []model.FieldViolation
	bad := func(field, desc string) { v = append(v, model.FieldViolation{Field: field, Description: desc}) }
	q := telemetry.RequestQuery{ClientIP: req.GetClientIp(), Host: req.GetHost(), Route: req.GetRoute(),
		Method: req.GetMethod(), Status: int(req.GetStatus()), PathPrefix: req.GetPathPrefix(), TraceID: req.GetTraceId(),
		Limit: int(req.GetLimit())}
	for _, f := range []struct{ name, value string }{{"client_ip", q.ClientIP}, {"host", q.Host}, {"route", q.Route},
		{"method", q.Method}, {"status_class", req.GetStatusClass()}, {"path_prefix", q.PathPrefix}, {"page_token", req.GetPageToken()}} {
		if len(f.value) > maxFilterLen {
			bad(f.name, "must be at most 256 bytes")
		}
	}
	if req.GetComponent() != "" {
		bad("component", "does not apply to request records")
	}
	if req.GetLevel() != "" {
		bad("level", "does not apply to request records")
	}
	if q.ClientIP != "" {
		if _, err := netip.ParseAddr(q.ClientIP); err != nil {
			bad("client_ip", "must be an IP address without a port")
		}
	}
	if q.TraceID != "" && !traceIDPattern.MatchString(q.TraceID) {
		bad("trace_id", "must be 32 lowercase hex characters")
	}
	if q.Status != 0 && (q.Status < 100 || q.Status > 999) {
		bad("status", "must be between 100 and 999")
	}
	if c := req.GetStatusClass(); c != "" {
		if len(c) != 3 || c[0] < '1' || c[0] > '5' || strings.ToLower(c[1:]) != "xx" {
			bad("status_class", `use "1xx" to "5xx"`)
		} else {
			q.StatusClass = int(c[0] - '0')
		}
	}
	if q.PathPrefix != "" && q.PathPrefix[0] != '/' {
		bad("path_prefix", `must start with "/"`)
	}
	if d := req.GetMinLatency(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 || d.AsDuration() > maxMinLatency {
			bad("min_latency", "must be between 0 and 1h")
		}
		q.MinLatency = d.AsDuration()
	}
	switch {
	case q.Limit < 0 || q.Limit > 1000:
		bad("limit", "must be between 0 and 1000")
	case q.Limit == 0:
		q.Limit = 100
	}
	if t := req.GetPageToken(); t != "" {
		id, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || !telemetry.ValidID(string(id)) {
			bad("page_token", "is not a next_page_token of this search")
		}
		q.Before = string(id)
	}
	q.To = now.Add(time.Second)
	if req.GetEndTime() != nil {
		q.To = req.GetEndTime().AsTime()
	}
	q.From = q.To.Add(-time.Hour)
	if req.GetStartTime() != nil {
		q.From = req.GetStartTime().AsTime()
	}
	if !q.From.Before(q.To) {
		bad("start_time", "must be before end_time")
	}
	if len(v) > 0 {
		return q, badRequest(&model.ValidationError{Violations: v})
	}
	return q, nil
}
