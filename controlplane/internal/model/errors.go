// Package model holds the control plane's validation rules and sentinel errors.
//
// Routes and agents are the generated edgeplanev1 messages themselves (as go-control-plane
// uses its xDS types): the proto is the single source of truth for their shape, and this
// package says which values are acceptable. Only the api package turns these errors into
// gRPC status codes.
package model

import (
	"errors"
	"strings"
)

// Sentinel errors. Wrap them with context; test with errors.Is.
var (
	// ErrNotFound: the named resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a resource with that name exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the caller's etag is stale.
	ErrConflict = errors.New("etag mismatch")
	// ErrUnavailable: the state store cannot be reached; the call may be retried.
	ErrUnavailable = errors.New("state store unavailable")
)

// FieldViolation names one invalid field of a request, in the style of google.rpc.BadRequest.
type FieldViolation struct {
	Field       string // path such as "route.hosts[0]"
	Description string
}

// ValidationError lists every invalid field of a request.
type ValidationError struct {
	Violations []FieldViolation
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// violations collects FieldViolations; err returns nil when there are none.
type violations []FieldViolation

func (vs *violations) add(field, format string) {
	*vs = append(*vs, FieldViolation{Field: field, Description: format})
}

func (vs violations) err() error {
	if len(vs) == 0 {
		return nil
	}
	return &ValidationError{Violations: vs}
}
