package api

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Alerts is what TelemetryService needs of the alert manager.
type Alerts interface {
	Firing(ctx context.Context) ([]*edgeplanev1.FiringAlert, error)
}

// Telemetry implements edgeplanev1.TelemetryServiceServer.
type Telemetry struct {
	edgeplanev1.UnimplementedTelemetryServiceServer
	Reader  *telemetry.Reader
	Metrics *metrics.Processor
	// Alerts may be nil while no alert manager runs: ListAlerts then says Unavailable.
	Alerts Alerts
	// Search answers QueryLogs over request records; nil: Unavailable.
	Search *telemetry.SearchIndex
}

var _ edgeplanev1.TelemetryServiceServer = (*Telemetry)(nil)

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

const maxMetricsWindow = 24 * time.Hour

// TailEvents implements TelemetryService.TailEvents.
func (h *Telemetry) TailEvents(req *edgeplanev1.TailEventsRequest, stream edgeplanev1.TelemetryService_TailEventsServer) error {
	if t := req.GetTraceId(); t != "" && !traceIDPattern.MatchString(t) {
		return invalid("trace_id", "must be 32 lowercase hex characters")
	}
	f := telemetry.EventFilter{Types: req.GetEventTypes(), Component: req.GetComponent(), TraceID: req.GetTraceId(), AfterID: req.GetAfterId()}
	err := h.Reader.TailEvents(stream.Context(), f, func(e telemetry.Entry) error {
		return stream.Send(&edgeplanev1.TailEventsResponse{Event: toProtoEntry(e)})
	})
	return unavailable(err)
}

// QueryLogs implements TelemetryService.QueryLogs.
func (h *Telemetry) QueryLogs(ctx context.Context, req *edgeplanev1.QueryLogsRequest) (*edgeplanev1.QueryLogsResponse, error) {
	if isRequestSearch(req) {
		return h.queryRequests(ctx, req)
	}
	f := telemetry.LogFilter{TraceID: req.GetTraceId(), Component: req.GetComponent(), Limit: int(req.GetLimit())}
	if f.TraceID != "" && !traceIDPattern.MatchString(f.TraceID) {
		return nil, invalid("trace_id", "must be 32 lowercase hex characters")
	}
	if lv := req.GetLevel(); lv != "" {
		if err := f.MinLevel.UnmarshalText([]byte(strings.ToUpper(lv))); err != nil {
			return nil, invalid("level", "use DEBUG, INFO, WARN or ERROR")
		}
	} else {
		f.MinLevel = -8
	}
	switch {
	case f.Limit < 0 || f.Limit > 1000:
		return nil, invalid("limit", "must be between 0 and 1000")
	case f.Limit == 0:
		f.Limit = 100
	}
	f.To = clock.Now().Add(time.Second)
	if req.GetEndTime() != nil {
		f.To = req.GetEndTime().AsTime()
	}
	f.From = f.To.Add(-time.Hour)
	if req.GetStartTime() != nil {
		f.From = req.GetStartTime().AsTime()
	}
	if f.TraceID != "" && req.GetStartTime() == nil {
		f.From = time.Time{}
	}
	if !f.From.Before(f.To) {
		return nil, invalid("start_time", "must be before end_time")
	}
	entries, err := h.Reader.Logs(ctx, f)
	if err != nil {
		return nil, unavailable(err)
	}
	return &edgeplanev1.QueryLogsResponse{Entries: toProtoEntries(entries)}, nil
}

// GetTrace implements TelemetryService.GetTrace.
func (h *Telemetry) GetTrace(ctx context.Context, req *edgeplanev1.GetTraceRequest) (*edgeplanev1.GetTraceResponse, error) {
	if !traceIDPattern.MatchString(req.GetTraceId()) {
		return nil, invalid("trace_id", "must be 32 lowercase hex characters")
	}
	entries, err := h.Reader.Trace(ctx, req.GetTraceId())
	if err != nil {
		return nil, unavailable(err)
	}
	if len(entries) == 0 {
		return nil, status.Errorf(codes.NotFound, "no records of trace %s (kept %s)", req.GetTraceId(), h.Reader.Index.Kept())
	}
	return &edgeplanev1.GetTraceResponse{Entries: toProtoEntries(entries)}, nil
}

// GetMetrics implements TelemetryService.GetMetrics.
func (h *Telemetry) GetMetrics(ctx context.Context, req *edgeplanev1.GetMetricsRequest) (*edgeplanev1.GetMetricsResponse, error) {
	window := 5 * time.Minute
	if d := req.GetWindow(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 || d.AsDuration() > maxMetricsWindow {
			return nil, invalid("window", "must be between 0 and 24h")
		}
		window = d.AsDuration()
	}
	now := clock.Now()
	sums, err := h.Metrics.Query(ctx, h.Reader.Streams.Requests, req.GetHost(), now.Add(-window), now.Add(time.Second))
	if err != nil {
		return nil, unavailable(err)
	}
	res := &edgeplanev1.GetMetricsResponse{Total: &edgeplanev1.TrafficMetrics{StatusClasses: map[string]int64{}}}
	for _, s := range sums {
		res.Metrics = append(res.Metrics, toTraffic(s))
		t := res.Total
		t.Requests += s.Requests
		t.BytesIn += s.BytesIn
		t.BytesOut += s.BytesOut
		for k, v := range s.StatusClasses {
			t.StatusClasses[k] += v
		}
	}
	if t := res.Total; t.Requests > 0 {
		t.ErrorRate = float64(t.StatusClasses["5xx"]) / float64(t.Requests)
	}
	return res, nil
}

// ListAlerts implements TelemetryService.ListAlerts.
func (h *Telemetry) ListAlerts(ctx context.Context, _ *edgeplanev1.ListAlertsRequest) (*edgeplanev1.ListAlertsResponse, error) {
	alerts, err := h.firing(ctx)
	if err != nil {
		return nil, err
	}
	return &edgeplanev1.ListAlertsResponse{Alerts: alerts}, nil
}

// GetAlertSummary implements TelemetryService.GetAlertSummary.
func (h *Telemetry) GetAlertSummary(ctx context.Context, _ *edgeplanev1.GetAlertSummaryRequest) (*edgeplanev1.GetAlertSummaryResponse, error) {
	alerts, err := h.firing(ctx)
	if err != nil {
		return nil, err
	}
	res := &edgeplanev1.GetAlertSummaryResponse{BySeverity: map[string]int32{}, Firing: int32(len(alerts))}
	for _, a := range alerts {
		res.BySeverity[a.GetSeverity()]++
	}
	hours, err := h.Reader.AlertHours(ctx, clock.Now())
	if err != nil {
		return nil, unavailable(err)
	}
	for _, hr := range hours {
		res.Hourly = append(res.Hourly, &edgeplanev1.AlertHour{StartTime: timestamppb.New(hr.Start),
			Fired: int32(hr.Fired), Resolved: int32(hr.Resolved)})
	}
	return res, nil
}

func (h *Telemetry) firing(ctx context.Context) ([]*edgeplanev1.FiringAlert, error) {
	if h.Alerts == nil {
		return nil, status.Error(codes.Unavailable, "the alert manager is not running on this replica")
	}
	alerts, err := h.Alerts.Firing(ctx)
	return alerts, unavailable(err)
}

// GetConsumerLag implements TelemetryService.GetConsumerLag.
func (h *Telemetry) GetConsumerLag(ctx context.Context, _ *edgeplanev1.GetConsumerLagRequest) (*edgeplanev1.GetConsumerLagResponse, error) {
	lags, err := h.Reader.ConsumerLag(ctx, clock.Now())
	if err != nil {
		return nil, unavailable(err)
	}
	res := &edgeplanev1.GetConsumerLagResponse{}
	for g, l := range lags {
		res.Consumers = append(res.Consumers, &edgeplanev1.ConsumerLag{Stream: g.Stream, Group: g.Group,
			Lag: durationpb.New(l.Age), Pending: l.Pending, Undelivered: l.Undelivered, MessagesProcessed: l.Processed})
	}
	sort.Slice(res.Consumers, func(i, j int) bool { return res.Consumers[i].GetStream() < res.Consumers[j].GetStream() })
	return res, nil
}

func toTraffic(s metrics.Summary) *edgeplanev1.TrafficMetrics {
	return &edgeplanev1.TrafficMetrics{Host: s.Host, Route: s.Route, Requests: s.Requests, StatusClasses: s.StatusClasses,
		ErrorRate: s.ErrorRate, P50: durationpb.New(s.P50), P95: durationpb.New(s.P95), P99: durationpb.New(s.P99),
		BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

func toProtoEntries(es []telemetry.Entry) []*edgeplanev1.StreamEntry {
	out := make([]*edgeplanev1.StreamEntry, len(es))
	for i, e := range es {
		out[i] = toProtoEntry(e)
	}
	return out
}

func toProtoEntry(e telemetry.Entry) *edgeplanev1.StreamEntry {
	return &edgeplanev1.StreamEntry{Stream: e.Stream, Id: e.ID, Time: timestamppb.New(e.Time), Fields: e.Fields}
}

// unavailable maps a Redis failure of a telemetry read to Unavailable.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unavailable, err.Error())
}
