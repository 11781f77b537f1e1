package proxy

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"unsafe"
)

// Header actions on the fast path, decided per header line by lower-case name.
const (
	actKeep    uint8 = iota // forward as is
	actDrop                 // hop-by-hop, replaced by the agent, or stripped identity header
	actHost                 // request Host
	actLength               // Content-Length
	actConn                 // Connection
	actHandoff              // request: needs net/http (Transfer-Encoding, Upgrade, Expect)
	actTE                   // response: Transfer-Encoding
	actTrace                // request: traceparent, replaced by the agent's span
)

// requestActions returns the request header actions: the protocol headers plus strip
// (lower-case names never forwarded).
func requestActions(strip map[string]bool) map[string]uint8 {
	m := map[string]uint8{
		"host": actHost, "content-length": actLength, "connection": actConn,
		"transfer-encoding": actHandoff, "upgrade": actHandoff, "expect": actHandoff, "http2-settings": actHandoff,
		"te": actDrop, "keep-alive": actDrop, "proxy-connection": actDrop, "proxy-authorization": actDrop, "trailer": actDrop,
		"traceparent": actTrace,
	}
	for k := range strip {
		if _, ok := m[k]; !ok {
			m[k] = actDrop
		}
	}
	return m
}

var responseActions = map[string]uint8{
	"content-length": actLength, "connection": actConn, "transfer-encoding": actTE,
	"keep-alive": actDrop, "proxy-connection": actDrop, "upgrade": actDrop, "te": actDrop, "proxy-authenticate": actDrop,
	"traceparent": actDrop, "x-trace-id": actDrop, // the agent returns its own
}

// field is one header line of a head held in a read buffer.
type field struct {
	line  []byte // "Name: value" without CRLF
	name  []byte
	value []byte // without surrounding blanks
	act   uint8
}

// request is a parsed request head. Its slices and strings point into the connection's read
// buffer and are valid until the buffer is read into again.
type request struct {
	method  string
	target  []byte // request-target, origin-form
	path    string // decoded path, for routing
	host    []byte
	length  int64  // Content-Length; 0 if absent
	close   bool   // Connection: close
	trace   []byte // traceparent value; nil if absent
	headers []field
}

// parseRequest parses head (through the empty line) into req. ok is false when the request
// must go to net/http: anything but a plain HTTP/1.1 request with an origin-form target, one
// Host, at most one Content-Length and no Transfer-Encoding, Upgrade or Expect; anything
// net/http would answer with 400 also goes there, so it answers the same way.
func parseRequest(head []byte, actions map[string]uint8, req *request) (ok bool) {
	*req = request{headers: req.headers[:0]}
	line, rest, ok := cutLine(head)
	if !ok {
		return false
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || string(line[sp2+1:]) != "HTTP/1.1" || line[sp1+1] != '/' || !isToken(line[:sp1]) {
		return false
	}
	req.method = methodString(line[:sp1])
	req.target = line[sp1+1 : sp2]
	if !parsePath(req) {
		return false
	}
	var hasHost, hasLength bool
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return false
		}
		if len(line) == 0 {
			return hasHost
		}
		f, ok := parseField(line, actions)
		if !ok {
			return false
		}
		switch f.act {
		case actHandoff:
			return false
		case actHost:
			if hasHost || !validHost(f.value) {
				return false
			}
			hasHost, req.host = true, f.value
		case actLength:
			if hasLength {
				return false
			}
			hasLength = true
			if req.length, ok = parseLength(f.value); !ok {
				return false
			}
		case actConn:
			if req.close, ok = connectionClose(f.value); !ok {
				return false // other tokens name headers to drop: net/http does that
			}
		case actTrace:
			req.trace = f.value
		}
		req.headers = append(req.headers, f)
	}
}

// parsePath sets req.path from req.target: the path before any query, percent-decoded
// like net/http's URL.Path.
func parsePath(req *request) bool {
	p := req.target
	if i := bytes.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if bytes.IndexByte(p, '#') >= 0 {
		return false
	}
	if bytes.IndexByte(p, '%') < 0 {
		req.path = unsafeString(p)
		return true
	}
	decoded, err := url.PathUnescape(string(p))
	req.path = decoded
	return err == nil
}

// cutLine splits off the first CRLF-terminated line. A bare LF is not accepted.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i <= 0 || b[i-1] != '\r' {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

func parseField(line []byte, actions map[string]uint8) (field, bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return field{}, false
	}
	f := field{line: line, name: line[:colon], value: trim(line[colon+1:])}
	for _, c := range f.value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return field{}, false
		}
	}
	f.act = lookupAction(actions, f.name)
	return f, true
}

// lookupAction finds name's action case-insensitively without allocating.
func lookupAction(actions map[string]uint8, name []byte) uint8 {
	var buf [40]byte
	if len(name) > len(buf) {
		return actions[string(bytes.ToLower(name))]
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return actions[string(buf[:len(name)])]
}

// dropped reports whether name is in drop (lower-case names) without allocating.
func dropped(drop map[string]bool, name []byte) bool {
	var buf [40]byte
	if len(name) > len(buf) {
		return drop[string(bytes.ToLower(name))]
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return drop[string(buf[:len(name)])]
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// connectionClose parses a Connection value: close reports a "close" token; ok is false if
// it has tokens other than close and keep-alive.
func connectionClose(v []byte) (close, ok bool) {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		switch tok = trim(tok); {
		case len(tok) == 0:
		case bytes.EqualFold(tok, []byte("close")):
			close = true
		case bytes.EqualFold(tok, []byte("keep-alive")):
		default:
			return close, false
		}
	}
	return close, true
}

// tokenChars marks the bytes allowed in an RFC 9110 token (method, header name).
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return len(b) > 0
}

// hostChars marks the bytes net/http accepts in a Host header.
var hostChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = tokenChars[c]
	}
	for _, c := range "[]:;=,()!$'@" {
		t[c] = true
	}
	return t
}()

func validHost(b []byte) bool {
	for _, c := range b {
		if !hostChars[c] {
			return false
		}
	}
	return true
}

// methodString returns m as a string, without allocating for the standard methods.
func methodString(m []byte) string {
	switch string(m) {
	case "GET":
		return http.MethodGet
	case "HEAD":
		return http.MethodHead
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "DELETE":
		return http.MethodDelete
	case "OPTIONS":
		return http.MethodOptions
	case "PATCH":
		return http.MethodPatch
	}
	return string(m)
}

// unsafeString views b as a string without copying. Hot path: the string must not outlive
// the request (b is reused for the next one).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// response is a parsed backend response head; its slices point into the backend
// connection's read buffer.
type response struct {
	status   int
	line     []byte // status line after the version: "200 OK"
	headers  []field
	length   int64 // -1 if absent
	chunked  bool
	close    bool // the backend will close the connection
	connDrop bool // Connection names other headers to drop
}

// parseResponse parses a backend response head. ok is false for a malformed one.
func parseResponse(head []byte, resp *response) (ok bool) {
	*resp = response{headers: resp.headers[:0], length: -1}
	line, rest, ok := cutLine(head)
	if !ok || len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return false
	}
	http10 := line[7] == '0'
	resp.line = line[9:]
	code, err := strconv.Atoi(string(resp.line[:3]))
	if err != nil || code < 100 || code > 999 || len(resp.line) > 3 && resp.line[3] != ' ' {
		return false
	}
	resp.status = code
	keepAlive := false
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return false
		}
		if len(line) == 0 {
			break
		}
		f, ok := parseField(line, responseActions)
		if !ok {
			return false
		}
		switch f.act {
		case actLength:
			n, ok := parseLength(f.value)
			if !ok || resp.length >= 0 && resp.length != n {
				return false
			}
			resp.length = n
		case actTE:
			if !bytes.EqualFold(f.value, []byte("chunked")) {
				return false // other codings are not relayed by the fast path
			}
			resp.chunked = true
		case actConn:
			var known bool
			resp.close, known = connectionClose(f.value)
			resp.connDrop = !known
			keepAlive = bytes.Contains(bytes.ToLower(f.value), []byte("keep-alive"))
		}
		resp.headers = append(resp.headers, f)
	}
	if resp.chunked {
		resp.length = -1
	}
	if http10 && !keepAlive {
		resp.close = true
	}
	return true
}

// connNamed reports whether the response's Connection header names name.
func (resp *response) connNamed(name []byte) bool {
	for _, f := range resp.headers {
		if f.act != actConn {
			continue
		}
		for _, tok := range bytes.Split(f.value, []byte(",")) {
			if bytes.EqualFold(trim(tok), name) {
				return true
			}
		}
	}
	return false
}
