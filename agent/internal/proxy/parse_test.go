package proxy

import (
	"testing"
)

func TestParseRequest(t *testing.T) {
	actions := requestActions(stripSet(DefaultStripHeaders))
	tests := []struct {
		name, head string
		ok         bool
		path, host string
		length     int64
		close      bool
	}{
		{"plain", "GET /a?b=c HTTP/1.1\r\nHost: x.test\r\n\r\n", true, "/a", "x.test", 0, false},
		{"body and close", "POST / HTTP/1.1\r\nhost:  x.test \r\nContent-Length: 12\r\nConnection: close\r\n\r\n", true, "/", "x.test", 12, true},
		{"escaped path", "GET /a%20b HTTP/1.1\r\nHost: x\r\n\r\n", true, "/a%20b", "x", 0, false},
		{"no host", "GET / HTTP/1.1\r\n\r\n", false, "", "", 0, false},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, "", "", 0, false},
		{"http/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", false, "", "", 0, false},
		{"absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", false, "", "", 0, false},
		{"chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false, "", "", 0, false},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, "", "", 0, false},
		{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", false, "", "", 0, false},
		{"bad length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n", false, "", "", 0, false},
		{"upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false, "", "", 0, false},
		{"expect", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", false, "", "", 0, false},
		{"connection names a header", "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\n\r\n", false, "", "", 0, false},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", false, "", "", 0, false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", false, "", "", 0, false},
		{"control character", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", false, "", "", 0, false},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false, "", "", 0, false},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", false, "", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req request
			lim := Limits{}.withDefaults()
			ok := parseRequest([]byte(tt.head), actions, &lim, &req) == reqParsed
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (string(req.rawPath) != tt.path || string(req.host) != tt.host || req.length != tt.length || req.close != tt.close) {
				t.Errorf("got path %q host %q length %d close %v; want %q %q %d %v",
					req.path, req.host, req.length, req.close, tt.path, tt.host, tt.length, tt.close)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name, head      string
		ok              bool
		status          int
		length          int64
		chunked, close_ bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, 200, 5, false, false},
		{"chunked", "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", true, 201, -1, true, false},
		{"until close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", true, 200, -1, false, true},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", true, 200, 1, false, true},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", true, 200, 1, false, false},
		{"no reason", "HTTP/1.1 204\r\n\r\n", true, 204, -1, false, false},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, 0, 0, false, false},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, 0, 0, false, false},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", false, 0, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp response
			ok := parseResponse([]byte(tt.head), &resp)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (resp.status != tt.status || resp.length != tt.length || resp.chunked != tt.chunked || resp.close != tt.close_) {
				t.Errorf("got %d length %d chunked %v close %v", resp.status, resp.length, resp.chunked, resp.close)
			}
		})
	}
}
