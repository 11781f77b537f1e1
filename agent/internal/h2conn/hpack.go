package h2conn

// Response header blocks are encoded without the HPACK dynamic table: each block starts with
// a dynamic table size update to 0 (allowed at the start of any block, and within any limit
// the client sets), then every field is a literal not indexed, its name from the static
// table where it is there. Blocks so depend on nothing sent before: any goroutine can build
// one without the connection's lock, and no allocation is needed.

// staticNames maps the static table's names (RFC 7541 Appendix A) to their first index.
var staticNames = func() map[string]uint64 {
	names := []string{":authority", ":method", ":method", ":path", ":path", ":scheme", ":scheme",
		":status", ":status", ":status", ":status", ":status", ":status", ":status",
		"accept-charset", "accept-encoding", "accept-language", "accept-ranges", "accept",
		"access-control-allow-origin", "age", "allow", "authorization", "cache-control",
		"content-disposition", "content-encoding", "content-language", "content-length",
		"content-location", "content-range", "content-type", "cookie", "date", "etag", "expect",
		"expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
		"if-unmodified-since", "last-modified", "link", "location", "max-forwards",
		"proxy-authenticate", "proxy-authorization", "range", "referer", "refresh", "retry-after",
		"server", "set-cookie", "strict-transport-security", "transfer-encoding", "user-agent",
		"vary", "via", "www-authenticate"}
	m := make(map[string]uint64, len(names))
	for i, n := range names {
		if _, ok := m[n]; !ok {
			m[n] = uint64(i + 1)
		}
	}
	return m
}()

// AppendBlockStart starts a header block.
func AppendBlockStart(b []byte) []byte { return append(b, 0x20) }

// AppendStatus appends the :status field.
func AppendStatus(b []byte, status int) []byte {
	switch status { // fully indexed static entries
	case 200:
		return append(b, 0x80|8)
	case 204:
		return append(b, 0x80|9)
	case 206:
		return append(b, 0x80|10)
	case 304:
		return append(b, 0x80|11)
	case 400:
		return append(b, 0x80|12)
	case 404:
		return append(b, 0x80|13)
	case 500:
		return append(b, 0x80|14)
	}
	b = append(b, 0x08, 3) // literal, name :status (8), 3-byte value
	return append(b, byte('0'+status/100%10), byte('0'+status/10%10), byte('0'+status%10))
}

// AppendField appends a field; name must be lower-case.
func AppendField[T string | []byte](b []byte, name, value T) []byte {
	if i, ok := staticNames[string(name)]; ok {
		b = appendInt(b, 4, 0x00, i)
	} else {
		b = append(b, 0x00)
		b = appendInt(b, 7, 0x00, uint64(len(name)))
		b = append(b, name...)
	}
	b = appendInt(b, 7, 0x00, uint64(len(value)))
	return append(b, value...)
}

// appendInt appends i with an n-bit prefix (RFC 7541 5.1), first byte's high bits flags.
func appendInt(b []byte, n uint, flags byte, i uint64) []byte {
	k := uint64(1)<<n - 1
	if i < k {
		return append(b, flags|byte(i))
	}
	b = append(b, flags|byte(k))
	i -= k
	for ; i >= 128; i >>= 7 {
		b = append(b, byte(0x80|(i&0x7f)))
	}
	return append(b, byte(i))
}
