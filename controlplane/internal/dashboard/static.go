package dashboard

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed static
var staticFiles embed.FS

// staticHandler serves the embedded script, stylesheet and icon under Prefix+"static/" (no
// directory listings).
func staticHandler() http.Handler {
	files := http.FileServerFS(staticFiles)
	return http.StripPrefix("/ui", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	}))
}
