// Package auth knows who is calling the control plane: the principal of a call (an admin
// token, a client certificate or the insecure loopback) and its role.
package auth

import "context"

// Role is what a principal may do.
type Role string

// Roles, from most to least powerful; RoleAgent is separate and may only connect agents.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleViewer   Role = "viewer"
	RoleAgent    Role = "agent"
)

// Principal is an authenticated caller.
type Principal struct {
	// Name is the token's name or the certificate's common name.
	Name string
	Role Role
	// Via says how the caller was authenticated: "token", "certificate" or "insecure".
	Via string
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
