package frontend

import (
	"crypto/tls"
	"net/http"

	"github.com/edgeplane/edgeplane/agent/internal/h2guard"
)

// newHTTP2Server makes h serve only HTTP/2 with prior knowledge: it receives TLS
// connections that negotiated "h2", wrapped in h2guard.Conn, which net/http does not see as
// TLS (ConnContext marks their requests secure; Request.TLS stays nil). It advertises and
// enforces the frame size h2guard inspects, so a larger HEADERS frame is the connection
// error FRAME_SIZE_ERROR (RFC 9113 4.2) rather than a frame Go's default 1 MiB limit
// accepts.
func newHTTP2Server(h *http.Server) *http.Server {
	h.Protocols = new(http.Protocols)
	h.Protocols.SetUnencryptedHTTP2(true)
	h.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: h2guard.MaxFrameSize}
	return h
}

// h2Cipher reports whether st is fit for HTTP/2 (RFC 9113 9.2): TLS 1.3, or TLS 1.2 with
// an AEAD cipher suite. Go's HTTP/2 server checks this only on a *tls.Conn, which it no
// longer sees.
func h2Cipher(st tls.ConnectionState) bool {
	if st.Version >= tls.VersionTLS13 {
		return true
	}
	switch st.CipherSuite {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return true
	}
	return false
}
