package frontend

import "crypto/tls"

// h2Cipher reports whether st is fit for HTTP/2 (RFC 9113 9.2): TLS 1.3, or TLS 1.2 with
// an AEAD cipher suite.
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
