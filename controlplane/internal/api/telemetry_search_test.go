package api

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// violations returns the fields named by err's BadRequest, or fails.
func violations(t *testing.T, err error) []string {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func TestRequestQuery_RefusesEachBadFieldByName(t *testing.T) {
	long := "/" + strings.Repeat("a", 256)
	now := time.Now()
	cases := []struct {
		field string
		req   *edgeplanev1.QueryLogsRequest
	}{
		{"client_ip", &edgeplanev1.QueryLogsRequest{ClientIp: "10.0.0.1:80"}},
		{"host", &edgeplanev1.QueryLogsRequest{Host: long}},
		{"route", &edgeplanev1.QueryLogsRequest{Route: long}},
		{"method", &edgeplanev1.QueryLogsRequest{Method: long}},
		{"path_prefix", &edgeplanev1.QueryLogsRequest{PathPrefix: long}},
		{"path_prefix", &edgeplanev1.QueryLogsRequest{PathPrefix: "api"}},
		{"status", &edgeplanev1.QueryLogsRequest{Status: 42}},
		{"status_class", &edgeplanev1.QueryLogsRequest{StatusClass: "6xx"}},
		{"min_latency", &edgeplanev1.QueryLogsRequest{MinLatency: durationpb.New(2 * time.Hour)}},
		{"min_latency", &edgeplanev1.QueryLogsRequest{MinLatency: durationpb.New(-time.Second)}},
		{"limit", &edgeplanev1.QueryLogsRequest{Requests: true, Limit: 1001}},
		{"page_token", &edgeplanev1.QueryLogsRequest{PageToken: "not-a-token!"}},
		{"trace_id", &edgeplanev1.QueryLogsRequest{Requests: true, TraceId: "xyz"}},
		{"component", &edgeplanev1.QueryLogsRequest{Host: "a", Component: "grpc"}},
		{"level", &edgeplanev1.QueryLogsRequest{Host: "a", Level: "WARN"}},
		{"start_time", &edgeplanev1.QueryLogsRequest{Requests: true, StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(-time.Minute))}},
	}
	for _, c := range cases {
		if !isRequestSearch(c.req) {
			t.Errorf("%v: not taken as a request search", c.req)
		}
		_, err := requestQuery(c.req, now)
		if got := violations(t, err); !slices.Equal(got, []string{c.field}) {
			t.Errorf("%v: got violations %v, want [%s]", c.req, got, c.field)
		}
	}
}

func TestRequestQuery_NamesEveryBadFieldAtOnce(t *testing.T) {
	_, err := requestQuery(&edgeplanev1.QueryLogsRequest{Status: 1, StatusClass: "9xx", Limit: -1}, time.Now())
	if got, want := violations(t, err), []string{"status", "status_class", "limit"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRequestQuery_DefaultsAndPageToken(t *testing.T) {
	now := time.Now()
	q, err := requestQuery(&edgeplanev1.QueryLogsRequest{StatusClass: "5XX", MinLatency: durationpb.New(time.Second),
		PageToken: "MTAwLTA"}, now) // base64url("100-0")
	if err != nil {
		t.Fatal(err)
	}
	if q.StatusClass != 5 || q.MinLatency != time.Second || q.Limit != 100 || q.Before != "100-0" || q.To.Sub(q.From) != time.Hour {
		t.Errorf("got %+v, want class 5, min latency 1s, limit 100, before 100-0, the last hour", q)
	}
}
