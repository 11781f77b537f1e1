package proxy

import (
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

type rt struct {
	name     string
	hosts    []string
	prefix   string
	methods  []string
	priority int32
}

func buildTable(t testing.TB, routes []rt) *Table {
	t.Helper()
	var srcs []*edgeplanev1.Route
	for _, r := range routes {
		srcs = append(srcs, &edgeplanev1.Route{
			Name: r.name, Hosts: r.hosts, PathPrefix: r.prefix, Methods: r.methods, Priority: r.priority,
			Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}},
		})
	}
	return apply(t, newProxy(t, Config{}), &edgeplanev1.ConfigUpdate{Routes: srcs})
}

func TestTable_Match(t *testing.T) {
	tbl := buildTable(t, []rt{
		{name: "root", hosts: []string{"example.com"}},
		{name: "api", hosts: []string{"example.com"}, prefix: "/api"},
		{name: "api-v2", hosts: []string{"example.com"}, prefix: "/api/v2/"},
		{name: "api-post", hosts: []string{"example.com"}, prefix: "/api", methods: []string{"POST"}, priority: 1},
		{name: "admin-b", hosts: []string{"example.com"}, prefix: "/admin"},
		{name: "admin-a", hosts: []string{"example.com"}, prefix: "/admin"},
		{name: "boost", hosts: []string{"example.com"}, prefix: "/", priority: 5, methods: []string{"PUT"}},
		{name: "wild", hosts: []string{"*.example.com"}},
		{name: "wild-deep", hosts: []string{"*.b.example.com"}, prefix: "/deep"},
		{name: "exact-sub", hosts: []string{"www.example.com"}, prefix: "/only"},
		{name: "other", hosts: []string{"Other.Test"}, prefix: "/x"},
	})
	tests := []struct {
		name, host, path, method, want string
	}{
		{"exact root", "example.com", "/", "GET", "root"},
		{"empty path", "example.com", "", "GET", "root"},
		{"port and case stripped", "EXAMPLE.com:8080", "/", "GET", "root"},
		{"trailing dot", "example.com.", "/", "GET", "root"},
		{"prefix exact", "example.com", "/api", "GET", "api"},
		{"prefix segment", "example.com", "/api/x", "GET", "api"},
		{"prefix not partial segment", "example.com", "/apix", "GET", "root"},
		{"longest prefix", "example.com", "/api/v2/users", "GET", "api-v2"},
		{"slash prefix needs slash", "example.com", "/api/v2", "GET", "api"},
		{"method and priority", "example.com", "/api/x", "POST", "api-post"},
		{"priority beats longer prefix", "example.com", "/api/v2/x", "PUT", "boost"},
		{"name breaks ties", "example.com", "/admin", "GET", "admin-a"},
		{"wildcard one label", "a.example.com", "/", "GET", "wild"},
		{"wildcard many labels", "x.y.example.com", "/z", "GET", "wild"},
		{"longer wildcard first", "a.b.example.com", "/deep/1", "GET", "wild-deep"},
		{"longer wildcard falls back", "a.b.example.com", "/shallow", "GET", "wild"},
		{"exact host first", "www.example.com", "/only/1", "GET", "exact-sub"},
		{"exact host falls back to wildcard", "www.example.com", "/else", "GET", "wild"},
		{"wildcard does not match apex", "example.org", "/", "GET", ""},
		{"upper-case route host", "other.test", "/x", "GET", "other"},
		{"no path match", "other.test", "/y", "GET", ""},
		{"unknown host", "nope.test", "/", "GET", ""},
		{"ipv6 host", "[::1]:80", "/", "GET", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if r := tbl.Match(tt.host, tt.path, tt.method); r != nil {
				got = r.Name()
			}
			if got != tt.want {
				t.Errorf("Match(%q, %q, %q) = %q, want %q", tt.host, tt.path, tt.method, got, tt.want)
			}
		})
	}
}

func TestHostname(t *testing.T) {
	tests := map[string]string{
		"a.test": "a.test", "a.test:80": "a.test", "[::1]:8080": "::1", "[::1]": "::1", "a.test.": "a.test",
	}
	for in, want := range tests {
		if got := hostname(in); got != want {
			t.Errorf("hostname(%q) = %q, want %q", in, got, want)
		}
	}
}
