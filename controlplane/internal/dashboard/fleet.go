package dashboard

import (
	"net/http"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// listSize is the page size of every List call; the pages show at most this many rows and
// say when there are more.
const listSize = 1000

// agentRow is one agent on the Fleet page.
type agentRow struct {
	*edgeplanev1.Agent
	Lag      int64 // revisions behind the current one
	Rejected bool  // its last attempt was a NACK it has not got past
}

type fleetData struct {
	Agents    []agentRow
	Revision  int64
	Connected int
	More      bool
}

// fleetPage lists every agent: connected, applied revision vs current, lag, last error.
func (d *Dashboard) fleetPage(w http.ResponseWriter, r *http.Request, v visitor) {
	ctx := v.ctx(r)
	agents, err := d.fleet.ListAgents(ctx, &edgeplanev1.ListAgentsRequest{PageSize: listSize})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	rev, err := d.currentRevision(r, v)
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	data := fleetData{Revision: rev, More: agents.GetNextPageToken() != ""}
	for _, a := range agents.GetAgents() {
		row := agentRow{Agent: a, Lag: max(rev-a.GetAppliedRevision(), 0)}
		row.Rejected = a.GetRejectedRevision() > a.GetAppliedRevision()
		if a.GetConnected() {
			data.Connected++
		}
		data.Agents = append(data.Agents, row)
	}
	d.render(w, r, http.StatusOK, "fleet", page{Title: "Fleet", Nav: "fleet", Refresh: 1000, V: v, Data: data})
}

// currentRevision is the config revision the control plane is at.
func (d *Dashboard) currentRevision(r *http.Request, v visitor) (int64, error) {
	res, err := d.routes.ListRoutes(v.ctx(r), &edgeplanev1.ListRoutesRequest{PageSize: 1})
	return res.GetRevision(), err
}
