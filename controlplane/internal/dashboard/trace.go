package dashboard

import (
	"net/http"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

var traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

type traceData struct {
	ID      string
	Entries []*edgeplanev1.StreamEntry
	Missing string // why nothing was found
}

// tracePage looks a trace up by id (GetTrace): every request record, log and event of it.
func (d *Dashboard) tracePage(w http.ResponseWriter, r *http.Request, v visitor) {
	id := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("id")))
	data := traceData{ID: id}
	p := page{Title: "Trace lookup", Nav: "trace", V: v, Data: &data}
	switch {
	case id == "":
	case len(id) > 64 || !traceID.MatchString(id):
		data.ID = ""
		p.Error = "A trace id is 32 hexadecimal characters (the middle of a traceparent header)."
		d.render(w, r, http.StatusBadRequest, "trace", p)
		return
	default:
		res, err := d.tel.GetTrace(v.ctx(r), &edgeplanev1.GetTraceRequest{TraceId: id})
		switch {
		case status.Code(err) == codes.NotFound:
			data.Missing = status.Convert(err).Message()
		case err != nil:
			d.fail(w, r, err, 0, "")
			return
		}
		data.Entries = res.GetEntries()
	}
	d.render(w, r, http.StatusOK, "trace", p)
}
