// Command demo-backend is the backend `make run` routes its example route to: it answers
// every request with a line naming the request, so a newcomer sees the proxy at work.
//
//	go run ./deploy/demo-backend 127.0.0.1:9000
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: demo-backend HOST:PORT")
	}
	srv := &http.Server{
		Addr:              os.Args[1],
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "hello from the demo backend: %s %s (Host %s, trace %s)\n",
				r.Method, r.URL.Path, r.Host, r.Header.Get("Traceparent"))
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
