package fanout

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// What rides along with a snapshot (telemetry settings, the block encoding) goes on chunk
// 0 only, and every route goes in exactly one chunk.
func TestSplit_SettingsRideOnChunkZero(t *testing.T) {
	u := &edgeplanev1.ConfigUpdate{Revision: 7, Snapshot: true, BaseRevision: -1, RequestBlockEncoding: "s2",
		Telemetry: &edgeplanev1.TelemetrySettings{RequestStream: "s"}}
	for i := range 200 {
		u.Routes = append(u.Routes, &edgeplanev1.Route{Name: fmt.Sprintf("r-%d", i), Hosts: []string{fmt.Sprintf("h%d.test", i)}})
	}
	chunks := split(u, proto.Size(u)-1, proto.Size(u)/4)
	if len(chunks) < 2 {
		t.Fatalf("got %d chunks, want several", len(chunks))
	}
	routes := 0
	for i, c := range chunks {
		routes += len(c.GetRoutes())
		hasSettings := c.GetTelemetry() != nil || c.GetRequestBlockEncoding() != ""
		if (i == 0) != hasSettings || i == 0 && (c.GetRequestBlockEncoding() != "s2" || c.GetTelemetry().GetRequestStream() != "s") {
			t.Errorf("chunk %d: telemetry %v, block encoding %q; want them on chunk 0 only", i, c.GetTelemetry(), c.GetRequestBlockEncoding())
		}
	}
	if routes != 200 {
		t.Errorf("chunks hold %d routes, want 200", routes)
	}
}
