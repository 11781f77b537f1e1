package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// Differential fuzzing (issue 10): the fast path's hand-written request parser against
// net/http's, and the path normalizer against RFC 3986 5.2.4 and net/url. The seed
// corpora are in testdata/fuzz; `go test` runs them, `make fuzz` explores further.

// FuzzParseRequest feeds the same head to parseRequest and to net/http (ReadRequest plus
// the checks net/http's server adds). What net/http refuses the fast path must not
// serve (it may refuse it or hand it over); what both accept must agree on method,
// target, Host, headers and body framing. The fast path may refuse more (raw bytes in the
// target, Host syntax, limits), but only what the net/http path refuses too.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")) // and testdata/fuzz/FuzzParseRequest
	f.Fuzz(func(t *testing.T, in []byte) {
		if end := bytes.Index(in, crlfcrlf); end >= 0 {
			checkAgainstNetHTTP(t, in[:end+4])
		}
	})
}

// FuzzParseRequestFields is FuzzParseRequest with the head assembled from fuzzed parts,
// so the fuzzer spends its time on methods, targets, Host values and header fields
// rather than on finding the line structure.
func FuzzParseRequestFields(f *testing.F) {
	f.Add("GET", "/a?b", "A.test:80", "X-A", "v", "") // and testdata/fuzz/FuzzParseRequestFields
	f.Fuzz(func(t *testing.T, method, target, host, name, value, length string) {
		head := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n"
		if name != "" {
			head += name + ": " + value + "\r\n"
		}
		if length != "" {
			head += "Content-Length: " + length + "\r\n"
		}
		head += "\r\n"
		if strings.Count(head, "\r\n\r\n") == 1 {
			checkAgainstNetHTTP(t, []byte(head))
		}
	})
}

var (
	fuzzActions = requestActions(stripSet(DefaultStripHeaders))
	fuzzLimits  = Limits{}.withDefaults()
)

// checkAgainstNetHTTP parses head with parseRequest and with net/http and fails on any
// disagreement the fast path is not allowed.
func checkAgainstNetHTTP(t *testing.T, head []byte) {
	t.Helper()
	var req request
	v := parseRequest(bytes.Clone(head), fuzzActions, &fuzzLimits, &req)
	std, err := readRequestLikeServer(head)
	switch {
	case v == reqHandoff:
		return // net/http serves it
	case v != reqParsed:
		if err == nil && (&Proxy{limits: fuzzLimits}).checkRequest(std) == 0 {
			t.Fatalf("fast path refuses %q with %d; the net/http path would serve it", head, v)
		}
		return
	case err != nil:
		t.Fatalf("fast path accepted %q; net/http refuses it: %v", head, err)
	}
	if diff := compareRequests(&req, std); diff != "" {
		t.Fatalf("%q: %s", head, diff)
	}
}

// readRequestLikeServer parses head as net/http's server does: ReadRequest, then the
// server's Host and header field checks.
func readRequestLikeServer(head []byte) (*http.Request, error) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return nil, err
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	tp.ReadLine()
	raw, err := tp.ReadMIMEHeader() // ReadRequest took Host out of r.Header
	if err != nil {
		return nil, err
	}
	hosts, ok := raw["Host"]
	switch {
	case !ok:
		return nil, errors.New("missing Host")
	case len(hosts) > 1:
		return nil, errors.New("too many Host headers")
	case !httpguts.ValidHostHeader(hosts[0]):
		return nil, errors.New("malformed Host header")
	}
	for k, vs := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, errors.New("invalid header name")
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, errors.New("invalid header value")
			}
		}
	}
	return r, nil
}

func compareRequests(req *request, std *http.Request) string {
	switch {
	case req.method != std.Method:
		return "method " + req.method + ", net/http " + std.Method
	case string(req.target) != std.RequestURI:
		return "target " + string(req.target) + ", net/http " + std.RequestURI
	case string(req.host) != strings.ToLower(std.Host):
		return "host " + string(req.host) + ", net/http " + std.Host
	case len(std.TransferEncoding) > 0 || req.length != std.ContentLength:
		return "body framing differs"
	case req.close != std.Close:
		return "Connection: close differs"
	}
	got := http.Header{}
	for _, f := range req.headers {
		if f.act != actHost {
			got.Add(string(f.name), string(f.value))
		}
	}
	want := std.Header.Clone()
	delete(want, "Host")
	if _, ok := got["Cache-Control"]; !ok && slices.Contains(want["Pragma"], "no-cache") {
		delete(want, "Cache-Control") // net/http adds it for Pragma: no-cache
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			return "header " + k + ": " + strings.Join(got[k], "|") + ", net/http " + strings.Join(v, "|")
		}
	}
	if len(got) != len(want) {
		return "header sets differ"
	}
	return ""
}

// FuzzNormalizePath checks normalizePath against a literal reading of RFC 3986 5.2.4
// (and net/url's ResolveReference when slashes are merged) on the decoded path, refusing
// exactly the escapes url.PathUnescape refuses; normalizing twice changes nothing.
func FuzzNormalizePath(f *testing.F) {
	f.Add("/a/b/../c", true) // and testdata/fuzz/FuzzNormalizePath
	f.Fuzz(func(t *testing.T, p string, merge bool) {
		if !strings.HasPrefix(p, "/") || !validTarget([]byte(p)) || strings.Contains(p, "?") {
			return // the parser refuses these, or cuts the query off, before normalizing
		}
		got, _, ok := normalizePath(nil, []byte(p), merge, false)
		decoded, err := url.PathUnescape(p)
		if ok != (err == nil) {
			t.Fatalf("normalizePath(%q) ok = %v, url.PathUnescape error = %v", p, ok, err)
		}
		if !ok {
			return
		}
		if again, _, _ := normalizePath(nil, got, merge, false); !bytes.Equal(again, got) {
			t.Fatalf("normalizePath(%q) = %q, normalized again %q", p, got, again)
		}
		full, _, _ := normalizePath(nil, []byte(p), merge, true)
		gotDecoded, _ := url.PathUnescape(string(full))
		if merge {
			decoded = mergeSlashes(decoded)
		}
		if want := removeDotSegments(decoded); gotDecoded != want {
			t.Fatalf("normalizePath(%q, merge %v) decodes to %q, RFC 3986 5.2.4 gives %q", p, merge, gotDecoded, want)
		}
		if merge {
			base := &url.URL{Scheme: "http", Host: "h", Path: "/"}
			if want := base.ResolveReference(&url.URL{Path: decoded}).Path; gotDecoded != want {
				t.Fatalf("normalizePath(%q) decodes to %q, net/url resolves %q", p, gotDecoded, want)
			}
		}
	})
}

func mergeSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// removeDotSegments is RFC 3986 5.2.4 step by step, as written there.
func removeDotSegments(in string) string {
	var out string
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			out = out[:max(strings.LastIndexByte(out, '/'), 0)]
		case in == "/..":
			in = "/"
			out = out[:max(strings.LastIndexByte(out, '/'), 0)]
		case in == "." || in == "..":
			in = ""
		default:
			i := strings.IndexByte(in[1:], '/') + 1
			if i == 0 {
				i = len(in)
			}
			out, in = out+in[:i], in[i:]
		}
	}
	return out
}
