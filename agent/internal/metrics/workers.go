package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// WorkerLabel names the serving process a series comes from when an agent runs worker
// processes: "0" for the agent itself, "1" and up for its workers.
const WorkerLabel = "worker"

// maxFamilyBytes bounds one encoded metric family read from a worker.
const maxFamilyBytes = 64 << 20

// Encode returns the metrics' families as length-delimited protobuf, for the agent that
// started this worker.
func (m *Metrics) Encode() ([]byte, error) {
	fams, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, f := range fams {
		if _, err := protodelim.MarshalTo(&buf, f); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// Decode reads families written by Encode.
func Decode(b []byte) ([]*dto.MetricFamily, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	var fams []*dto.MetricFamily
	for {
		f := new(dto.MetricFamily)
		err := protodelim.UnmarshalOptions{MaxSize: maxFamilyBytes}.UnmarshalFrom(r, f)
		if errors.Is(err, io.EOF) {
			return fams, nil
		}
		if err != nil {
			return nil, err
		}
		fams = append(fams, f)
	}
}

// WorkerFamilies are the families one worker process reported.
type WorkerFamilies struct {
	Index    int
	Families []*dto.MetricFamily
}

// HandlerWith serves these metrics and the workers' (read at each scrape), every series
// labelled with WorkerLabel.
func (m *Metrics) HandlerWith(workers func() []WorkerFamilies) http.Handler {
	return promhttp.HandlerFor(merged{own: m.reg, workers: workers}, promhttp.HandlerOpts{Registry: m.reg})
}

type merged struct {
	own     prometheus.Gatherer
	workers func() []WorkerFamilies
}

// Gather implements prometheus.Gatherer: the families of every process, each series with
// its process's worker label. A family a worker reports with another type than the agent's
// is left out of that worker's part.
func (g merged) Gather() ([]*dto.MetricFamily, error) {
	own, err := g.own.Gather()
	byName := make(map[string]*dto.MetricFamily, len(own))
	for _, f := range own {
		label(f, 0)
		byName[f.GetName()] = f
	}
	for _, w := range g.workers() {
		for _, f := range w.Families {
			label(f, w.Index)
			have, ok := byName[f.GetName()]
			switch {
			case !ok:
				byName[f.GetName()] = f
				own = append(own, f)
			case have.GetType() == f.GetType():
				have.Metric = append(have.Metric, f.Metric...)
			}
		}
	}
	slices.SortFunc(own, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return own, err
}

// label adds the worker label to every series of f, keeping label pairs sorted by name.
func label(f *dto.MetricFamily, index int) {
	v := strconv.Itoa(index)
	for _, m := range f.Metric {
		m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(WorkerLabel), Value: proto.String(v)})
		slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	}
}
