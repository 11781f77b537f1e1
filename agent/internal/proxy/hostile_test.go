package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Issue 10, row 1: routing ran on the raw path.
func TestHostile_DotSegmentsAndDoubleSlashesEscapePathPrefix(t *testing.T) {
	pub, admin, root := newRecorder(t), newRecorder(t), newRecorder(t)
	adminRoute := route("admin", "h.test", admin.URL)
	adminRoute.PathPrefix, adminRoute.Methods = "/admin", []string{"GET"}
	pubRoute := route("public", "h.test", pub.URL)
	pubRoute.PathPrefix = "/public"
	p := newProxy(t, Config{}, adminRoute, pubRoute, route("root", "h.test", root.URL))
	tests := []struct {
		target, want string // want: the recorder that must get it, "" for a 400
		uri          string // the request-target it must get
	}{
		{"/public/../admin/x", "admin", "/admin/x"},
		{"/public/%2e%2e/admin/x", "admin", "/admin/x"},
		{"/public/%2E%2E/admin/x", "admin", "/admin/x"},
		{"/public/./%2e/../admin", "admin", "/admin"},
		{"//admin", "admin", "/admin"},
		{"/x/../admin", "admin", "/admin"},
		{"/x/..//admin?q=%2e", "admin", "/admin?q=%2e"},
		{"/%61dmin", "admin", "/admin"},
	}
	refused := []string{"/public/..%2Fadmin", "/public/%2E%2E%2Fadmin", "/public/..%5Cadmin", "/public/%zz", "/public/%2"}
	backends := map[string]*recorder{"admin": admin, "public": pub, "root": root}
	for mode, addr := range rawFronts(t, p) {
		for _, tt := range tests {
			r := one(t, addr, getRaw("h.test", tt.target))
			if r.status != 200 || r.body != tt.uri || backends[tt.want].seen(tt.uri) == 0 {
				t.Errorf("%s: GET %s: got %d %q, want %s to get %s", mode, tt.target, r.status, r.body, tt.want, tt.uri)
			}
		}
		for _, target := range refused {
			if r := one(t, addr, getRaw("h.test", target)); r.status != http.StatusBadRequest {
				t.Errorf("%s: GET %s: got %d %q, want 400", mode, target, r.status, r.body)
			}
		}
		// The method limit of /admin holds: POST goes to the root route with the normalized path.
		r := one(t, addr, "POST /public/../admin HTTP/1.1\r\nHost: h.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		if r.status != 200 || root.seen("/admin") == 0 || pub.seen("/public/../admin") != 0 {
			t.Errorf("%s: POST /public/../admin: got %d %q, want the root route to get /admin", mode, r.status, r.body)
		}
	}
}

// Row 1's per-route options: encoded slashes kept or decoded, empty segments kept.
func TestHostile_EncodedSlashAndEmptySegmentPolicies(t *testing.T) {
	keep, decode, empty := newRecorder(t), newRecorder(t), newRecorder(t)
	k := route("keep", "k.test", keep.URL)
	k.EncodedSlashes = edgeplanev1.EncodedSlashes_ENCODED_SLASHES_KEEP
	d := route("decode", "d.test", decode.URL)
	d.EncodedSlashes = edgeplanev1.EncodedSlashes_ENCODED_SLASHES_DECODE
	e := route("empty", "e.test", empty.URL)
	e.KeepEmptySegments = true
	dOther := route("decode-other", "d.test", keep.URL)
	dOther.PathPrefix = "/b"
	p := newProxy(t, Config{}, k, d, e, dOther)
	tests := []struct{ host, target, want string }{
		{"k.test", "/a%2fb/../c", "/c"},
		{"k.test", "/a%2Fb", "/a%2Fb"},
		{"d.test", "/a%2Fb/..%2Fc", "/a/c"},
		{"e.test", "//x//y/", "//x//y/"},
		{"e.test", "/a//../b", "/a/b"},
	}
	for mode, addr := range rawFronts(t, p) {
		for _, tt := range tests {
			if r := one(t, addr, getRaw(tt.host, tt.target)); r.status != 200 || r.body != tt.want {
				t.Errorf("%s: %s %s: got %d %q, want 200 %q", mode, tt.host, tt.target, r.status, r.body, tt.want)
			}
		}
		// Decoded, the path would select another route: refused.
		if r := one(t, addr, getRaw("d.test", "/x/..%2Fb")); r.status != http.StatusBadRequest {
			t.Errorf("%s: decoded path routing elsewhere: got %d %q, want 400", mode, r.status, r.body)
		}
	}
}

// Row 2: a body error left the client connection open and a request hidden in the body
// was served.
func TestHostile_BodyErrorClosesConnectionSoHiddenRequestIsNotServed(t *testing.T) {
	rec := newRecorder(t)
	refuser := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge) // without reading the body, then close
	}))
	t.Cleanup(refuser.Close)
	up := route("upload", "u.test", refuser.URL)
	up.PathPrefix = "/upload"
	p := newProxy(t, Config{}, up, route("rest", "u.test", rec.URL))
	hidden := "GET /hidden HTTP/1.1\r\nHost: u.test\r\n\r\n"
	body := strings.Repeat("x", 16<<20) + hidden
	raw := "POST /upload HTTP/1.1\r\nHost: u.test\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	for mode, addr := range rawFronts(t, p) {
		rs := rawExchange(t, addr, raw)
		if len(rs) != 1 || rec.seen("/hidden") != 0 {
			t.Errorf("%s: got %d responses (%+v), backend got /hidden %d times; want one response, /hidden never served",
				mode, len(rs), statuses(rs), rec.seen("/hidden"))
		}
	}
}

func statuses(rs []reply) []int {
	var s []int
	for _, r := range rs {
		s = append(s, r.status)
	}
	return s
}

// Row 3: a POST was sent twice when a reused backend connection dropped after it was
// written.
func TestHostile_PostNotResentWhenReusedBackendConnectionDrops(t *testing.T) {
	var posts, gets atomic.Int32
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := gets.Load()
		if r.Method == http.MethodPost {
			n = posts.Add(1)
		} else if r.URL.Path == "/flaky" {
			n = gets.Add(1)
		}
		if r.URL.Path != "/warm" && n == 1 {
			io.Copy(io.Discard, r.Body)
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close() // drop the connection after the request arrived
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(be.Close)
	p := newProxy(t, Config{}, route("r", "r.test", be.URL))
	warm := "GET /warm HTTP/1.1\r\nHost: r.test\r\n\r\n"
	for mode, addr := range rawFronts(t, p) {
		posts.Store(0)
		gets.Store(0)
		rs := rawExchange(t, addr, warm+"POST /once HTTP/1.1\r\nHost: r.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
		if len(rs) != 2 || rs[1].status != http.StatusBadGateway || posts.Load() != 1 {
			t.Errorf("%s: POST on a dropped connection: got %v, backend saw %d POSTs; want 502 and 1", mode, statuses(rs), posts.Load())
		}
		rs = rawExchange(t, addr, warm+"GET /flaky HTTP/1.1\r\nHost: r.test\r\nConnection: close\r\n\r\n")
		if len(rs) != 2 || rs[1].status != 200 || gets.Load() != 2 {
			t.Errorf("%s: GET on a dropped connection: got %v, backend saw %d GETs; want 200 after one retry", mode, statuses(rs), gets.Load())
		}
	}
}

// Row 4: CR, NUL, TAB, space and raw bytes >= 0x80 in the request-target were forwarded,
// and a bare CR reached the redirect's Location header.
func TestHostile_ControlAndRawBytesInTargetRefused(t *testing.T) {
	rec := newRecorder(t)
	redirect := route("secure", "s.test", rec.URL)
	redirect.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_ACME, RedirectHttp: true}
	p := newProxy(t, Config{})
	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{redirect, route("plain", "p.test", rec.URL)},
		Certificates: []*edgeplanev1.TlsCertificate{testCert(t, "secure", time.Hour, "s.test")}})
	targets := []string{"/a\rSet-Cookie:x=1", "/a\x00b", "/a\tb", "/a b", "/caf\xc3\xa9", "/a\x7f", "/a#frag", "/a?\x80"}
	for mode, addr := range rawFronts(t, p) {
		for _, host := range []string{"s.test", "p.test"} {
			for _, target := range targets {
				rs := rawExchange(t, addr, getRaw(host, target))
				if len(rs) != 1 || rs[0].status != http.StatusBadRequest || rs[0].header.Get("Set-Cookie") != "" {
					t.Errorf("%s: %s %q: got %v, want one 400", mode, host, target, statuses(rs))
				}
			}
		}
		if r := one(t, addr, getRaw("s.test", "/a?b=%0d%0aX:1")); r.status != http.StatusMovedPermanently ||
			r.header.Get("Location") != "https://s.test/a?b=%0d%0aX:1" {
			t.Errorf("%s: encoded CRLF: got %d to %q, want 301 keeping it encoded", mode, r.status, r.header.Get("Location"))
		}
	}
}

// Row 5: headers spelled with underscores reached CGI/WSGI/Rack backends.
func TestHostile_UnderscoreHeadersDropped(t *testing.T) {
	rec := newRecorder(t)
	allow := route("allow", "allow.test", rec.URL)
	allow.AllowUnderscoresInHeaders = true
	p := newProxy(t, Config{}, route("r", "r.test", rec.URL), allow)
	hdr := []string{"X_Forwarded_User: admin\r\n", "X-Forwarded_For: 10.0.0.1\r\n", "X_Real_IP: 10.0.0.2\r\n", "My_Header: v\r\n"}
	for mode, addr := range rawFronts(t, p) {
		r := one(t, addr, getRaw("r.test", "/", hdr...))
		for k := range r.header {
			if strings.Contains(k, "_") {
				t.Errorf("%s: backend got %s: %q, want headers with '_' dropped", mode, k, r.header.Get(k))
			}
		}
		r = one(t, addr, getRaw("allow.test", "/", hdr...))
		if r.header.Get("Got-My_header") != "v" && r.header.Get("Got-My_Header") != "v" {
			t.Errorf("%s: route allowing underscores: headers %v, want My_Header forwarded", mode, r.header)
		}
	}
}

// Row 6: a Host with userinfo routed to the host before '@', and was forwarded raw.
func TestHostile_InvalidHostRefused(t *testing.T) {
	internal, app := newRecorder(t), newRecorder(t)
	p := newProxy(t, Config{}, route("internal", "internal.test", internal.URL), route("app", "app.test", app.URL))
	bad := []string{"internal.test:@app.test", "app.test@internal.test", "internal.test:80:80", "internal.test:x",
		"internal.test:99999", "[::1", "[fe80::1%25eth0]", "a b", "app.test,internal.test", ""}
	for mode, addr := range rawFronts(t, p) {
		for _, host := range bad {
			if r := one(t, addr, getRaw(host, "/")); r.status != http.StatusBadRequest {
				t.Errorf("%s: Host %q: got %d %q, want 400", mode, host, r.status, r.body)
			}
		}
		r := one(t, addr, getRaw("APP.Test:8080", "/"))
		if r.status != 200 || r.header.Get("Got-X-Forwarded-Host") != "app.test:8080" ||
			!strings.Contains(r.header.Get("Got-Forwarded"), `host="app.test:8080"`) {
			t.Errorf("%s: Host APP.Test:8080: got %d, X-Forwarded-Host %q, Forwarded %q; want the lower-case host",
				mode, r.status, r.header.Get("Got-X-Forwarded-Host"), r.header.Get("Got-Forwarded"))
		}
		if r := one(t, addr, getRaw("[::1]:80", "/")); r.status != http.StatusNotFound {
			t.Errorf("%s: Host [::1]:80: got %d, want 404 (valid, no route)", mode, r.status)
		}
	}
	if internal.seen("/") != 0 {
		t.Errorf("the internal backend got %d requests, want none", internal.seen("/"))
	}
}

// Row 9: any Upgrade, h2c included, became a tunnel.
func TestHostile_UpgradeOnlyForAllowedProtocols(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if up := r.Header.Get("Upgrade"); up != "" {
			c, brw, _ := http.NewResponseController(w).Hijack()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + up + "\r\n\r\n")
			brw.Flush()
			c.Close()
			return
		}
		io.WriteString(w, "plain")
	}))
	t.Cleanup(be.Close)
	h2c := route("h2c", "h2c.test", be.URL)
	h2c.UpgradeProtocols = []string{"h2c"}
	p := newProxy(t, Config{}, route("r", "r.test", be.URL), h2c)
	up := func(proto string) []string {
		return []string{"Connection: Upgrade, HTTP2-Settings, close\r\n", "Upgrade: " + proto + "\r\n", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"}
	}
	for mode, addr := range rawFronts(t, p) {
		for _, proto := range []string{"h2c", "foo", "websocket, h2c"} {
			if r := one(t, addr, getRaw("r.test", "/", up(proto)...)); r.status != 200 || r.body != "plain" {
				t.Errorf("%s: Upgrade %s on a default route: got %d %q, want 200 plain (no tunnel)", mode, proto, r.status, r.body)
			}
		}
		for _, tc := range []struct{ host, proto string }{{"r.test", "websocket"}, {"h2c.test", "h2c"}} {
			if r := one(t, addr, getRaw(tc.host, "/", up(tc.proto)...)); r.status != http.StatusSwitchingProtocols {
				t.Errorf("%s: allowed Upgrade %s: got %d %q, want 101", mode, tc.proto, r.status, r.body)
			}
		}
	}
}

// Row 10: dot segments after the ACME challenge prefix bypassed redirectHttp.
func TestHostile_ACMEPrefixWithDotSegmentsStillRedirected(t *testing.T) {
	rec := newRecorder(t)
	redirect := route("secure", "s.test", rec.URL)
	redirect.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_ACME, RedirectHttp: true}
	p := newProxy(t, Config{})
	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{redirect},
		Certificates: []*edgeplanev1.TlsCertificate{testCert(t, "secure", time.Hour, "s.test")},
		Challenges:   []*edgeplanev1.AcmeChallenge{{Token: "tok-1", KeyAuthorization: "tok-1.thumb"}}})
	for mode, addr := range rawFronts(t, p) {
		for _, target := range []string{"/.well-known/acme-challenge/../../admin", "/.well-known/acme-challenge/%2e%2e/admin",
			"/.well-known/acme-challenge/a/b", "/.well-known/acme-challenge/"} {
			if r := one(t, addr, getRaw("s.test", target)); r.status != http.StatusMovedPermanently {
				t.Errorf("%s: %s: got %d %q, want 301 to HTTPS", mode, target, r.status, r.body)
			}
		}
		if r := one(t, addr, getRaw("s.test", "/.well-known/acme-challenge/tok-1")); r.status != 200 || r.body != "tok-1.thumb" {
			t.Errorf("%s: challenge: got %d %q, want the key authorization", mode, r.status, r.body)
		}
		if r := one(t, addr, getRaw("s.test", "/.well-known/acme-challenge/other")); r.status != 200 || r.body != "/.well-known/acme-challenge/other" {
			t.Errorf("%s: unknown token: got %d %q, want it proxied", mode, r.status, r.body)
		}
	}
	if n := rec.seen("/admin"); n != 0 {
		t.Errorf("backend got /admin %d times over plain HTTP, want 0", n)
	}
}
