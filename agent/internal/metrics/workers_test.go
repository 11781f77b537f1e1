package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// A worker's families travel as Encode's bytes and come out of the agent's handler beside
// its own, every series labelled with its process; a family a worker reports with another
// type is left out rather than served inconsistent.
func TestHandlerWith_MergesWorkersLabelled(t *testing.T) {
	own, w1 := New(), New()
	own.Route("app").Observe(200, time.Millisecond)
	w1.Route("app").Observe(200, time.Millisecond)
	w1.Route("app").Observe(503, time.Millisecond)
	enc, err := w1.Encode()
	if err != nil {
		t.Fatal(err)
	}
	fams, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	odd := &dto.MetricFamily{Name: proto.String("edgeplane_agent_config_revision"), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Label: []*dto.LabelPair{{Name: proto.String("odd"), Value: proto.String("yes")}},
			Counter: &dto.Counter{Value: proto.Float64(7)}}}}
	h := own.HandlerWith(func() []WorkerFamilies {
		return []WorkerFamilies{{Index: 1, Families: append(fams, odd)}}
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`edgeplane_agent_requests_total{code_class="2xx",route="app",worker="0"} 1`,
		`edgeplane_agent_requests_total{code_class="2xx",route="app",worker="1"} 1`,
		`edgeplane_agent_requests_total{code_class="5xx",route="app",worker="1"} 1`,
		`edgeplane_agent_config_revision{worker="0"} 0`,
		`edgeplane_agent_config_revision{worker="1"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("merged metrics lack %s", want)
		}
	}
	if strings.Contains(text, `odd="yes"`) {
		t.Errorf("a family of another type from a worker was served")
	}
	if rec.Code != 200 {
		t.Errorf("status %d", rec.Code)
	}
}

func TestDecode_RefusesGarbage(t *testing.T) {
	if _, err := Decode([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2}); err == nil {
		t.Error("Decode of a length past the bound succeeded")
	}
}
