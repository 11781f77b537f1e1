// Command backend is the tiny HTTP backend of bench/peers/run.sh: every request gets the
// same 12-byte text/plain answer.
//
//	go run ./bench/peers/backend 127.0.0.1:9100
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: backend HOST:PORT")
	}
	body := []byte("hello, edge\n")
	log.Fatal(http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})))
}
