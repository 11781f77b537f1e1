package auth

import "context"

// Role is what a caller may do. Admin > operator > viewer; agent is separate.
type Role string

// The roles.
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
	// Role is the caller's role.
	Role Role
	// Via says how the caller was authenticated: "token", "certificate" or "insecure".
	Via string
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
