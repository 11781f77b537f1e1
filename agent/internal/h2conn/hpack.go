package h2conn

// Response header blocks are encoded without the HPACK dynamic table: each block starts with
// a dynamic table size update to 0 (allowed at the start of any block, and within any limit
// the client sets), then every field is a literal not indexed, its name from the static
// table where it is there. Blocks so depend on nothing sent before: any goroutine can build
// one without the connection's lock, and no allocation is needed.

// staticName returns name's first index in the static table (RFC 7541 Appendix A), 0 if it
// is not there. A switch, not a map: no hashing per field of every response.
func staticName(name string) uint64 {
	switch name {
	case ":authority":
		return 1
	case ":method":
		return 2
	case ":path":
		return 4
	case ":scheme":
		return 6
	case ":status":
		return 8
	case "accept-charset":
		return 15
	case "accept-encoding":
		return 16
	case "accept-language":
		return 17
	case "accept-ranges":
		return 18
	case "accept":
		return 19
	case "access-control-allow-origin":
		return 20
	case "age":
		return 21
	case "allow":
		return 22
	case "authorization":
		return 23
	case "cache-control":
		return 24
	case "content-disposition":
		return 25
	case "content-encoding":
		return 26
	case "content-language":
		return 27
	case "content-length":
		return 28
	case "content-location":
		return 29
	case "content-range":
		return 30
	case "content-type":
		return 31
	case "cookie":
		return 32
	case "date":
		return 33
	case "etag":
		return 34
	case "expect":
		return 35
	case "expires":
		return 36
	case "from":
		return 37
	case "host":
		return 38
	case "if-match":
		return 39
	case "if-modified-since":
		return 40
	case "if-none-match":
		return 41
	case "if-range":
		return 42
	case "if-unmodified-since":
		return 43
	case "last-modified":
		return 44
	case "link":
		return 45
	case "location":
		return 46
	case "max-forwards":
		return 47
	case "proxy-authenticate":
		return 48
	case "proxy-authorization":
		return 49
	case "range":
		return 50
	case "referer":
		return 51
	case "refresh":
		return 52
	case "retry-after":
		return 53
	case "server":
		return 54
	case "set-cookie":
		return 55
	case "strict-transport-security":
		return 56
	case "transfer-encoding":
		return 57
	case "user-agent":
		return 58
	case "vary":
		return 59
	case "via":
		return 60
	case "www-authenticate":
		return 61
	}
	return 0
}

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
	if i := staticName(string(name)); i != 0 {
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
