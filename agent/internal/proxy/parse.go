package proxy

import (
	"bytes"
	"net/http"
	"net/netip"
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
	line       []byte // "Name: value" without CRLF
	name       []byte
	value      []byte // without surrounding blanks
	act        uint8
	underscore bool // the name holds '_': dropped unless the route allows it
}

// request is a parsed request head. Its slices and strings point into the connection's read
// buffer and are valid until the buffer is read into again.
type request struct {
	method  string
	target  []byte // request-target, origin-form
	rawPath []byte // target up to any query, percent-encoded
	query   []byte // target from '?' on; empty if none
	path    string // normalized, decoded path the request was routed on (set by route)
	host    []byte // validated and lower-cased
	length  int64  // Content-Length; 0 if absent
	close   bool   // Connection: close
	trace   []byte // traceparent value; nil if absent
	headers []field

	hasHost, hasLength bool
}

// Results of parseRequest other than an HTTP status to refuse the request with.
const (
	reqParsed  = 0  // served by the fast path
	reqHandoff = -1 // net/http must parse it
)

// parseRequest parses head (through the empty line) into req. It returns reqParsed, reqHandoff
// when the request must go to net/http (anything but a plain HTTP/1.1 request with an
// origin-form target, at most one Content-Length and no Transfer-Encoding, Upgrade or
// Expect, and whatever net/http parses differently), or the status of a refusal: 400 for
// a request-target holding anything but visible ASCII (or a '#'), a Host that is not a
// host name or IP literal with an optional numeric port, or a repeated Host; 414 for a
// request-target over lim.MaxTargetBytes; 431 for more than lim.MaxHeaderCount headers.
func parseRequest(head []byte, actions map[string]uint8, lim *Limits, req *request) int {
	*req = request{headers: req.headers[:0]}
	line, rest, ok := cutLine(head)
	if !ok {
		return reqHandoff
	}
	if v := parseRequestLine(line, lim, req); v != reqParsed {
		return v
	}
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return reqHandoff
		}
		if len(line) == 0 {
			break
		}
		f, ok := parseField(line, actions)
		if !ok {
			return reqHandoff
		}
		if len(req.headers) >= lim.MaxHeaderCount {
			return http.StatusRequestHeaderFieldsTooLarge
		}
		if v := req.apply(f); v != reqParsed {
			return v
		}
		req.headers = append(req.headers, f)
	}
	if !req.hasHost {
		return reqHandoff // HTTP/1.1 without Host: net/http answers 400
	}
	lower(req.host)
	return reqParsed
}

// parseRequestLine parses "METHOD target HTTP/1.1" into req.
func parseRequestLine(line []byte, lim *Limits, req *request) int {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return reqHandoff
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ') + sp1 + 1
	if sp2 <= sp1 {
		return reqHandoff
	}
	target := line[sp1+1 : sp2]
	if len(target) > lim.MaxTargetBytes {
		return http.StatusRequestURITooLong
	}
	if string(line[sp2+1:]) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return reqHandoff
	}
	if !validTarget(target) {
		return http.StatusBadRequest
	}
	req.method = methodString(line[:sp1])
	req.target, req.rawPath = target, target
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		req.rawPath, req.query = target[:i], target[i:]
	}
	if !validEscapes(req.rawPath) {
		return http.StatusBadRequest
	}
	return reqParsed
}

// apply takes in the protocol meaning of header f.
func (req *request) apply(f field) int {
	var ok bool
	switch f.act {
	case actHandoff:
		return reqHandoff
	case actHost:
		if req.hasHost || !validHost(f.value) {
			return http.StatusBadRequest
		}
		req.hasHost, req.host = true, f.value
	case actLength:
		if req.hasLength {
			return reqHandoff // net/http accepts repeats of one value, refuses others
		}
		req.hasLength = true
		if req.length, ok = parseLength(f.value); !ok {
			return reqHandoff
		}
	case actConn:
		var close bool
		if close, ok = connectionClose(f.value); !ok {
			return reqHandoff // other tokens name headers to drop: net/http does that
		}
		req.close = req.close || close
	case actTrace:
		req.trace = f.value
	}
	return reqParsed
}

// validTarget reports whether a request-target holds only visible ASCII and no fragment:
// net/http forwards raw bytes >= 0x80, but no proxy should pass on what RFC 3986 forbids.
func validTarget(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// validEscapes reports whether every '%' in a path starts a two-digit hex escape.
func validEscapes(p []byte) bool {
	for i := bytes.IndexByte(p, '%'); i >= 0; i = bytes.IndexByte(p, '%') {
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return false
		}
		p = p[i+3:]
	}
	return true
}

func lower(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
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
	f.underscore = bytes.IndexByte(f.name, '_') >= 0
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

// validHost reports whether a Host value is a host name (letters, digits, '-', '.', '_',
// '~': an RFC 3986 reg-name without percent-encodings or sub-delims), an IPv4 address
// or a bracketed IPv6 literal, with an optional numeric port. Anything else (userinfo,
// a second ':', an empty value) is refused: routing and the forwarded Host must read it
// the same way the backend would.
func validHost(b []byte) bool {
	name, port := b, []byte(nil)
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 || !validIPv6(b[1:end]) {
			return false
		}
		name, port = nil, b[end+1:]
	} else if i := bytes.IndexByte(b, ':'); i >= 0 {
		name, port = b[:i], b[i:]
	}
	if name != nil && (len(name) == 0 || len(name) > 253 || !isRegName(name)) {
		return false
	}
	return validPort(port)
}

func isRegName(b []byte) bool {
	for _, c := range b {
		if !unreserved[c] {
			return false
		}
	}
	return true
}

func validIPv6(b []byte) bool {
	if len(b) < 2 || len(b) > 45 || bytes.IndexByte(b, '%') >= 0 {
		return false // no zone: nothing routes on one
	}
	a, err := netip.ParseAddr(string(b))
	return err == nil && a.Is6()
}

// validPort accepts "" or ':' and 1-5 digits up to 65535.
func validPort(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' || len(p) < 2 || len(p) > 6 {
		return false
	}
	n, ok := parseLength(p[1:])
	return ok && n <= 65535
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
