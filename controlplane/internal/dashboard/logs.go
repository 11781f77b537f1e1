package dashboard

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// logLimit is how many log records the Logs page shows.
const logLimit = 200

var (
	logLevels     = []string{"", "DEBUG", "INFO", "WARN", "ERROR"}
	componentName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
)

type logsData struct {
	Component, Level, TraceID string
	Levels                    []string
	Entries                   []*edgeplanev1.StreamEntry
}

// logsPage searches the control plane's logs (QueryLogs): by component, minimum level and
// trace id, newest first.
func (d *Dashboard) logsPage(w http.ResponseWriter, r *http.Request, v visitor) {
	q := r.URL.Query()
	data := logsData{Component: strings.TrimSpace(q.Get("component")), Level: strings.ToUpper(q.Get("level")),
		TraceID: strings.ToLower(strings.TrimSpace(q.Get("trace_id"))), Levels: logLevels}
	switch {
	case data.Component != "" && !componentName.MatchString(data.Component):
		d.fail(w, r, nil, http.StatusBadRequest, "component: up to 64 of a-z, 0-9, _ and -")
		return
	case !slices.Contains(logLevels, data.Level):
		d.fail(w, r, nil, http.StatusBadRequest, "level: DEBUG, INFO, WARN or ERROR")
		return
	case data.TraceID != "" && (len(data.TraceID) > 64 || !traceID.MatchString(data.TraceID)):
		d.fail(w, r, nil, http.StatusBadRequest, "trace id: 32 hexadecimal characters")
		return
	}
	res, err := d.tel.QueryLogs(v.ctx(r), &edgeplanev1.QueryLogsRequest{Component: data.Component, Level: data.Level,
		TraceId: data.TraceID, Limit: logLimit})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	data.Entries = res.GetEntries()
	d.render(w, r, http.StatusOK, "logs", page{Title: "Logs", Nav: "logs", Refresh: 3000, V: v, Data: data})
}
