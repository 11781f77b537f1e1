package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// BenchmarkProxy measures a whole proxied request on loopback: client -> Proxy -> backend.
func BenchmarkProxy(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello world\n")
	}))
	defer be.Close()
	p := New(Config{})
	tbl, err := p.Build([]*edgeplanev1.Route{{Name: "bench", Hosts: []string{"bench.test"}, Targets: target(be.URL)}})
	if err != nil {
		b.Fatal(err)
	}
	p.Swap(tbl)
	front := httptest.NewServer(p)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, front.URL+"/x", nil)
			req.Host = "bench.test"
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkLookup measures Match in a table of 10,000 routes: exact hosts, wildcards and
// several prefixes per host.
func BenchmarkLookup(b *testing.B) {
	var routes []rt
	for i := range 2500 {
		host := fmt.Sprintf("app%d.example.com", i)
		routes = append(routes,
			rt{name: fmt.Sprintf("r%d-root", i), hosts: []string{host}},
			rt{name: fmt.Sprintf("r%d-api", i), hosts: []string{host}, prefix: "/api"},
			rt{name: fmt.Sprintf("r%d-v2", i), hosts: []string{host}, prefix: "/api/v2", methods: []string{"GET"}},
			rt{name: fmt.Sprintf("r%d-wild", i), hosts: []string{fmt.Sprintf("*.tenant%d.example.net", i)}},
		)
	}
	tbl := buildTable(b, routes)
	cases := []struct{ name, host, path string }{
		{"exact", "app1234.example.com", "/api/v2/users/42"},
		{"wildcard", "a.b.tenant77.example.net", "/static/app.js"},
		{"miss", "nope.example.org", "/"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tbl.Match(c.host, c.path, http.MethodGet)
			}
		})
	}
}
