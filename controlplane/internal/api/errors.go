// Package api holds the control plane's gRPC handlers. Handlers are thin: they check the
// request's shape, call the domain packages and map their errors to status codes here, and
// only here.
package api

import (
	"context"
	"errors"
	"net"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// toStatus maps a domain error to a gRPC status error. Validation errors carry a
// google.rpc.BadRequest with one field violation per invalid field.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var verr *model.ValidationError
	switch {
	case errors.As(err, &verr):
		return badRequest(verr)
	case errors.Is(err, model.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, model.ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, model.ErrConflict):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, model.ErrUnavailable) && unreachable(err):
		return status.Error(codes.Unavailable, "redis unreachable: "+err.Error())
	case errors.Is(err, model.ErrUnavailable), errors.Is(err, model.ErrEngineUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, model.ErrFailedPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, model.ErrExhausted):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// unreachableMarks are the texts of a store error that did not reach Redis or got no answer
// from it (the store keeps go-redis's error only as text): a timeout, a refused or reset
// connection, a dial that failed, a connection pool with no free connection.
var unreachableMarks = []string{"i/o timeout", "deadline exceeded", "connection refused", "connection reset",
	"broken pipe", "no route to host", "dial tcp", "EOF", "connection pool timeout", "use of closed network connection"}

// unreachable reports whether a store error means Redis could not be reached in time.
func unreachable(err error) bool {
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := err.Error()
	for _, m := range unreachableMarks {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

func badRequest(verr *model.ValidationError) error {
	br := &errdetails.BadRequest{}
	for _, v := range verr.Violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
	}
	st, err := status.New(codes.InvalidArgument, verr.Error()).WithDetails(br)
	if err != nil {
		return status.Error(codes.InvalidArgument, verr.Error())
	}
	return st.Err()
}

// invalid is a single-field InvalidArgument.
func invalid(field, desc string) error {
	return badRequest(&model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: desc}}})
}
