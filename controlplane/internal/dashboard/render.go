package dashboard

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

//go:embed templates/*.html
var templateFiles embed.FS

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the nav entry to mark current
	Error string
	// Refresh is how often (ms) the script re-renders the live region; 0: never.
	Refresh int
	V       visitor
	Data    any
}

// templates holds one template set per page: the layout plus the page's own file, which
// defines "live" (the region the script refreshes).
var templates = parseTemplates()

func parseTemplates() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, n))
	}
	return out
}

// render writes the page: the whole document, or for a live refresh (Accept:
// application/json) {"html": the live region}.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	t := templates[name]
	var buf bytes.Buffer
	live := wantsJSON(r)
	tmpl := "layout.html"
	if live {
		tmpl = "live"
	}
	if err := t.ExecuteTemplate(&buf, tmpl, p); err != nil {
		d.log.ErrorContext(r.Context(), "rendering a dashboard page", "page", name, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	if live {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"html": buf.String()})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Accept"), "application/json")
}

// fail answers with an error page (or JSON error for the script). err, when a gRPC status,
// picks the code: Unauthenticated sends the visitor back to log in.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error, code int, msg string) {
	if err != nil {
		st := status.Convert(err)
		code, msg = httpCode(st.Code()), st.Message()
		if code >= http.StatusInternalServerError {
			d.log.WarnContext(r.Context(), "dashboard page failed", "path", r.URL.Path, "code", st.Code().String(), "err", msg)
		}
	}
	if code == http.StatusUnauthorized && r.Method == http.MethodGet && !wantsJSON(r) {
		http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
		return
	}
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	d.render(w, r, code, "error", page{Title: http.StatusText(code), Error: msg, V: visitor{Insecure: !d.cfg.Enforced}})
}

func httpCode(c codes.Code) int {
	switch c {
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.InvalidArgument, codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.Unimplemented, codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	}
	return http.StatusBadGateway
}
