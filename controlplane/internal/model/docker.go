package model

import "errors"

// Sentinel errors of the port allocator and the Docker services. Wrap them with context.
var (
	// ErrFailedPrecondition: the request is valid but the world is not in a state to carry it
	// out (an image the engine does not have, a port in use on the host, a lease held by
	// another owner). Retrying the same call will fail the same way.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrEngineUnavailable: the Docker engine cannot be reached; the call may be retried.
	ErrEngineUnavailable = errors.New("docker engine unavailable")
	// ErrExhausted: no free port is left in the range.
	ErrExhausted = errors.New("resource exhausted")
)
