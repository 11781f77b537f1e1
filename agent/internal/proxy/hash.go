package proxy

import (
	"bytes"
	"math"
	"net/http"
	"strings"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// hashKey is the consistent-hashing key of one request: a 64-bit hash of the route's key
// source (header value, cookie value or client IP). ok is false when the request has no
// key; it is then balanced round robin.
type hashKey struct {
	h  uint64
	ok bool
}

// hashSource is where a LB_POLICY_HASH route reads its key from. Exactly one is set.
type hashSource struct {
	header   string // canonical header name
	headerLC []byte // the same, lower-case, for the fast path's case-insensitive compare
	cookie   string
	clientIP bool
}

func newHashSource(lb *edgeplanev1.LoadBalancer) *hashSource {
	if lb.GetPolicy() != edgeplanev1.LbPolicy_LB_POLICY_HASH {
		return nil
	}
	return &hashSource{header: http.CanonicalHeaderKey(lb.GetHashHeader()),
		headerLC: []byte(strings.ToLower(lb.GetHashHeader())), cookie: lb.GetHashCookie(), clientIP: lb.GetHashClientIp()}
}

// keyOfConn returns the key of the fast path's current request. Hot path: no allocation.
func (s *hashSource) keyOfConn(c *Conn) hashKey {
	if s == nil {
		return hashKey{}
	}
	if s.clientIP {
		return hashString(c.ip)
	}
	for i := range c.req.headers {
		f := &c.req.headers[i]
		switch {
		case s.cookie == "" && len(f.name) == len(s.headerLC) && bytes.EqualFold(f.name, s.headerLC):
			return hashBytes(f.value)
		case s.cookie != "" && len(f.name) == len("cookie") && bytes.EqualFold(f.name, []byte("cookie")):
			if v, ok := cookieValue(unsafeString(f.value), s.cookie); ok {
				return hashString(v)
			}
		}
	}
	return hashKey{}
}

// keyOfRequest returns the key of a request on the net/http path.
func (s *hashSource) keyOfRequest(r *http.Request) hashKey {
	switch {
	case s == nil:
		return hashKey{}
	case s.clientIP:
		return hashString(clientIP(r.RemoteAddr))
	case s.cookie == "":
		if v := r.Header[s.header]; len(v) > 0 {
			return hashString(v[0])
		}
		return hashKey{}
	}
	for _, line := range r.Header["Cookie"] {
		if v, ok := cookieValue(line, s.cookie); ok {
			return hashString(v)
		}
	}
	return hashKey{}
}

// cookieValue returns the value of the first cookie called name in a Cookie header line
// ("a=1; b=2"), without its quotes. It does not allocate.
func cookieValue(line, name string) (string, bool) {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// FNV-1a, then mixed: the key's hash must be the same on every agent and across restarts.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(s string) hashKey {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return hashKey{h: h, ok: true}
}

func hashBytes(b []byte) hashKey { return hashString(unsafeString(b)) }

// mix is splitmix64's finalizer: it spreads the bits of a key hash combined with a
// target's id.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rendezvousScore is target id's weighted rendezvous (highest random weight) score for
// key: weight / -ln(u), u uniform in (0,1) from the key and the id. The target with the
// highest score owns the key; removing a target moves only the keys it owned, and each
// target owns a share of keys proportional to its weight.
func rendezvousScore(key, id uint64, weight uint32) float64 {
	u := (float64(mix(key^id)>>11) + 0.5) / (1 << 53)
	return float64(max(weight, 1)) / -math.Log(u)
}

// rendezvous returns the position in idx (or targets, when idx is nil) of the
// highest-scoring candidate for key other than avoid (-1: none). With equal weights the
// score is the mixed hash itself (the same order as weight / -ln(u), without logarithms).
// Hot path: no allocation, one mix (and with unequal weights one logarithm) per candidate.
func rendezvous(key uint64, targets []*target, idx []int, weights []uint32, equal bool, avoid *target) int {
	best, bestScore, bestHash := -1, -1.0, uint64(0)
	n := len(targets)
	if idx != nil {
		n = len(idx)
	}
	for i := range n {
		j := i
		if idx != nil {
			j = idx[i]
		}
		t := targets[j]
		if t == avoid {
			continue
		}
		if equal {
			if h := mix(key ^ t.id); best < 0 || h > bestHash {
				best, bestHash = i, h
			}
			continue
		}
		if s := rendezvousScore(key, t.id, weights[j]); s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}
