package proxy

// Path normalization: both paths route on, and forward, the normalized form of the
// request path, so a route's prefix and method limits cannot be escaped with dot
// segments, percent-encoded dots or doubled slashes.

// normalizePath appends to dst the normalized form of the percent-encoded path p (which
// starts with '/'): percent-encodings of unreserved characters decoded and the others in
// upper case (RFC 3986 6.2.2), dot segments removed (RFC 3986 5.2.4), empty segments
// merged when merge is set. Encoded slashes (%2F, %5C) are decoded when decodeSlashes is
// set, else kept encoded and reported by encSlash. ok is false for a malformed
// percent-encoding.
//
// Hot path: no allocation once dst has grown to the size of the paths seen.
func normalizePath(dst, p []byte, merge, decodeSlashes bool) (out []byte, encSlash, ok bool) {
	start := len(dst)
	dst, encSlash, ok = decodeUnreserved(dst, p, decodeSlashes)
	if !ok {
		return dst, false, false
	}
	return append(dst[:start], removeDots(dst[start:], merge)...), encSlash, true
}

// decodeUnreserved appends p to dst with the percent-encodings of unreserved characters
// (and of slashes when slashes is set) decoded and the others upper-cased.
func decodeUnreserved(dst, p []byte, slashes bool) (out []byte, encSlash, ok bool) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return dst, false, false
		}
		d := unhex(p[i+1])<<4 | unhex(p[i+2])
		i += 2
		switch {
		case unreserved[d], slashes && (d == '/' || d == '\\'):
			dst = append(dst, d)
		default:
			encSlash = encSlash || d == '/' || d == '\\'
			dst = append(dst, '%', upperHex[d>>4], upperHex[d&15])
		}
	}
	return dst, encSlash, true
}

// removeDots removes the dot segments of the absolute path p in place (RFC 3986 5.2.4),
// merging empty segments when merge is set, and returns the result.
func removeDots(p []byte, merge bool) []byte {
	w := 0 // p[:w] is the output: "/seg" pieces
	for r := 0; r < len(p); {
		r++ // past the '/'
		end := r
		for end < len(p) && p[end] != '/' {
			end++
		}
		seg := p[r:end]
		last := end == len(p)
		switch {
		case isDot(seg):
		case isDotDot(seg):
			w = lastSlash(p[:w])
		case len(seg) == 0 && merge && !last:
		default:
			w += copy(p[w:], p[r-1:end])
			r = end
			continue
		}
		if last { // a final "." or ".." leaves a trailing '/'
			p[w] = '/'
			w++
		}
		r = end
	}
	if w == 0 {
		p = append(p[:0], '/')
		return p
	}
	return p[:w]
}

// isDot and isDotDot recognise "." and ".." segments (percent-encoded dots are decoded
// before).
func isDot(seg []byte) bool    { return len(seg) == 1 && seg[0] == '.' }
func isDotDot(seg []byte) bool { return len(seg) == 2 && seg[0] == '.' && seg[1] == '.' }

// lastSlash returns the index of the last '/' in b, or 0.
func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return 0
}

// routingPath appends to dst the decoded form of the normalized path p used for routing:
// every percent-encoding decoded except %2F, which stays "%2F" so it never separates
// segments.
func routingPath(dst, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) {
			if d := unhex(p[i+1])<<4 | unhex(p[i+2]); d != '/' {
				dst = append(dst, d)
				i += 2
				continue
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// hasEscape reports whether p needs normalizing at all: a '%', a dot segment or an empty
// segment. Hot path: most paths need none, and then p is used as it is.
func hasEscape(p []byte) bool {
	for i, c := range p {
		switch c {
		case '%':
			return true
		case '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				return true
			}
		}
	}
	return false
}

// unreserved marks RFC 3986 unreserved characters: ALPHA DIGIT - . _ ~
var unreserved = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-._~" {
		t[c] = true
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
