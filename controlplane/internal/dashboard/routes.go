package dashboard

import (
	"github.com/edgeplane/edgeplane/internal/clock"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// maxSearch bounds the Routes page's search string.
const maxSearch = 128

type routesData struct {
	Query  string
	Routes []*edgeplanev1.Route
	Total  int
	More   bool
}

// routesPage lists the routes whose name, host, target or service contains q.
func (d *Dashboard) routesPage(w http.ResponseWriter, r *http.Request, v visitor) {
	q := r.URL.Query().Get("q")
	if len(q) > maxSearch {
		d.fail(w, r, nil, http.StatusBadRequest, "search is longer than 128 characters")
		return
	}
	res, err := d.routes.ListRoutes(v.ctx(r), &edgeplanev1.ListRoutesRequest{PageSize: listSize})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	data := routesData{Query: q, Total: len(res.GetRoutes()), More: res.GetNextPageToken() != ""}
	needle := strings.ToLower(strings.TrimSpace(q))
	for _, rt := range res.GetRoutes() {
		if needle == "" || routeMatches(rt, needle) {
			data.Routes = append(data.Routes, rt)
		}
	}
	d.render(w, r, http.StatusOK, "routes", page{Title: "Routes", Nav: "routes", Refresh: 3000, V: v, Data: data})
}

func routeMatches(rt *edgeplanev1.Route, needle string) bool {
	fields := append([]string{rt.GetName(), rt.GetService(), rt.GetPathPrefix()}, rt.GetHosts()...)
	for _, t := range rt.GetTargets() {
		fields = append(fields, t.GetUrl())
	}
	return slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(strings.ToLower(f), needle) })
}

type routeData struct {
	Route   *edgeplanev1.Route
	Serving []*edgeplanev1.Agent // connected agents that applied the route's revision
	Behind  []*edgeplanev1.Agent // the others
	Traffic traffic
	Classes []classCount
	Rate    *chart
	Latency *chart
}

// classCount is one status class's share of a route's requests.
type classCount struct {
	Class string
	Count int64
}

// metricsWindow is the window of the rates and percentiles the pages show.
const metricsWindow = time.Minute

// routePage shows one route: hosts, targets, TLS, which agents serve it and its traffic.
func (d *Dashboard) routePage(w http.ResponseWriter, r *http.Request, v visitor) {
	name := r.PathValue("name")
	if len(name) > maxSearch {
		d.fail(w, r, nil, http.StatusBadRequest, "route name too long")
		return
	}
	ctx := v.ctx(r)
	got, err := d.routes.GetRoute(ctx, &edgeplanev1.GetRouteRequest{Name: name})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	rt := got.GetRoute()
	data := routeData{Route: rt}
	agents, err := d.fleet.ListAgents(ctx, &edgeplanev1.ListAgentsRequest{PageSize: listSize})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	for _, a := range agents.GetAgents() {
		if a.GetConnected() && a.GetAppliedRevision() >= rt.GetRevision() {
			data.Serving = append(data.Serving, a)
		} else {
			data.Behind = append(data.Behind, a)
		}
	}
	if data.Traffic, err = d.routeTraffic(r, v, rt); err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	data.Classes = sortedClasses(data.Traffic.Classes)
	samples := d.history.record(rt.GetName(), data.Traffic, clock.Now())
	data.Rate, data.Latency = rateChart(samples), latencyChart(samples)
	d.render(w, r, http.StatusOK, "route", page{Title: "Route " + rt.GetName(), Nav: "routes", Refresh: 2000, V: v, Data: data})
}

// routeTraffic sums the route's traffic over metricsWindow across its hosts.
func (d *Dashboard) routeTraffic(r *http.Request, v visitor, rt *edgeplanev1.Route) (traffic, error) {
	res, err := d.tel.GetMetrics(v.ctx(r), &edgeplanev1.GetMetricsRequest{Window: durationpb.New(metricsWindow)})
	if err != nil {
		return traffic{}, err
	}
	var t traffic
	for _, m := range res.GetMetrics() {
		if m.GetRoute() == rt.GetName() {
			t.add(m)
		}
	}
	return t, nil
}

func sortedClasses(m map[string]int64) []classCount {
	out := make([]classCount, 0, len(m))
	for _, c := range []string{"1xx", "2xx", "3xx", "4xx", "5xx"} {
		if n, ok := m[c]; ok {
			out = append(out, classCount{c, n})
		}
	}
	return out
}
