// Package auth says who a gRPC caller is and what it may do.
//
// The contract:
//   - A caller is a Principal {Name, Role, Via}. Roles: admin > operator > viewer; agent is
//     separate and may only call AgentService/Connect. FromContext gives a handler the caller.
//   - Authentication (Authenticator) turns an "authorization: Bearer <token>" header into
//     Principal{Via: "token"} by looking the token's SHA-256 up in the token store (Tokens,
//     cached for at most CacheTTL), or a client certificate verified against the cluster CA
//     into Principal{Name: CN, Role: OU[0], Via: "certificate"}. A bearer header, when sent,
//     is the credential used.
//   - Authorization (Policy) is a table of every method's minimum role. A method not in the
//     table is refused (deny by default); health checks, reflection and AgentService/Enroll are
//     open.
//   - Certificates are trusted only as TLS verified them (the cluster CA); whether an agent's
//     certificate was revoked is checked by AgentService/Connect, the only method agents may
//     call.
//   - With authentication off (plaintext on loopback: --dev or --insecure) every caller is
//     Principal{Name: "insecure-loopback", Role: admin, Via: "insecure"}.
//
// Errors are ErrUnauthenticated, ErrPermissionDenied, ErrTooManyStreams and
// model.ErrUnavailable (the token store cannot be reached); only the api package turns them
// into gRPC codes.
package auth

import "errors"

// Errors of authentication and authorization. Wrap them with context.
var (
	// ErrUnauthenticated: no credential, or one that is unknown, expired or malformed.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the caller's role may not call the method.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrTooManyStreams: the caller already holds its share of concurrent streams.
	ErrTooManyStreams = errors.New("too many concurrent streams")
)

// Insecure is the principal of every call when authentication is off.
var Insecure = Principal{Name: "insecure-loopback", Role: RoleAdmin, Via: "insecure"}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleAdmin, RoleOperator, RoleViewer, RoleAgent:
		return r, true
	}
	return "", false
}

// rank orders the administrative roles; agent ranks with none of them.
func rank(r Role) int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleOperator:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Allows reports whether a caller with role have may call a method needing need.
func Allows(have, need Role) bool {
	if need == RoleAgent || have == RoleAgent {
		return have == need
	}
	return rank(have) >= rank(need) && rank(need) > 0
}
