package dashboard

import (
	"github.com/edgeplane/edgeplane/internal/clock"
	"net/http"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// traffic sums TrafficMetrics entries over metricsWindow.
type traffic struct {
	Host          string
	Requests      int64
	Errors        int64 // 5xx
	Classes       map[string]int64
	P50, P95, P99 time.Duration // the largest of the entries': an upper bound across hosts
}

func (t *traffic) add(m *edgeplanev1.TrafficMetrics) {
	if t.Classes == nil {
		t.Classes = map[string]int64{}
	}
	t.Requests += m.GetRequests()
	for c, n := range m.GetStatusClasses() {
		t.Classes[c] += n
	}
	t.Errors += m.GetStatusClasses()["5xx"]
	t.P50 = max(t.P50, m.GetP50().AsDuration())
	t.P95 = max(t.P95, m.GetP95().AsDuration())
	t.P99 = max(t.P99, m.GetP99().AsDuration())
}

// Rate is requests per second over the window.
func (t traffic) Rate() float64 { return float64(t.Requests) / metricsWindow.Seconds() }

// ErrorRate is the share of 5xx.
func (t traffic) ErrorRate() float64 {
	if t.Requests == 0 {
		return 0
	}
	return float64(t.Errors) / float64(t.Requests)
}

// Ms formats a percentile in milliseconds.
func (t traffic) Ms(d time.Duration) string { return formatMs(d) }

type trafficData struct {
	Hosts         []traffic
	Total         traffic
	Rate, Latency *chart
}

// totalKey keys all hosts' samples in the history (no route name can start with a space).
const totalKey = " total"

// trafficPage shows each host's request rate, error rate and latency over the last minute.
func (d *Dashboard) trafficPage(w http.ResponseWriter, r *http.Request, v visitor) {
	res, err := d.tel.GetMetrics(v.ctx(r), &edgeplanev1.GetMetricsRequest{Window: durationpb.New(metricsWindow)})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	byHost := map[string]*traffic{}
	var data trafficData
	for _, m := range res.GetMetrics() {
		t := byHost[m.GetHost()]
		if t == nil {
			t = &traffic{Host: m.GetHost()}
			byHost[m.GetHost()] = t
		}
		t.add(m)
		data.Total.add(m)
	}
	for _, t := range byHost {
		data.Hosts = append(data.Hosts, *t)
	}
	sort.Slice(data.Hosts, func(i, j int) bool { return data.Hosts[i].Host < data.Hosts[j].Host })
	samples := d.history.record(totalKey, data.Total, clock.Now())
	data.Rate, data.Latency = rateChart(samples), latencyChart(samples)
	d.render(w, r, http.StatusOK, "traffic", page{Title: "Traffic", Nav: "traffic", Refresh: 2000, V: v, Data: data})
}
