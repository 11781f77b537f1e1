package model

import "errors"

// ErrDenied: the caller's credentials do not allow the call (a join token that is unknown,
// expired, used up or for another node; a certificate that is revoked or names another node).
var ErrDenied = errors.New("permission denied")
