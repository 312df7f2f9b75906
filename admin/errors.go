package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/httpapi"
)

// Errors callers match on.
var (
	// ErrExposed is returned by CheckExposure (and Start) for a listen
	// address beyond loopback without a token.
	ErrExposed = errors.New("admin: API exposed without a token")
	// ErrBadConfig wraps every configuration error from New.
	ErrBadConfig = errors.New("admin: bad config")
	// ErrStarted is returned by Start on a server already started (a
	// Server is started at most once).
	ErrStarted = errors.New("admin: server already started")
)

// Machine-readable error codes, the "code" of every error answer: package
// api's (api.Codes has each one's HTTP status and sentinel).
const (
	CodeInvalidRequest       = api.CodeInvalidRequest
	CodeInvalidID            = api.CodeInvalidID
	CodeMalformedJSON        = api.CodeMalformedJSON
	CodeUnknownField         = api.CodeUnknownField
	CodeDuplicateField       = api.CodeDuplicateField
	CodeMalformedRequest     = api.CodeMalformedRequest
	CodeHeaderTooLarge       = api.CodeHeaderTooLarge
	CodeUnsupportedProtocol  = api.CodeUnsupportedProtocol
	CodeUnauthorized         = api.CodeUnauthorized
	CodeForbidden            = api.CodeForbidden
	CodeForbiddenHost        = api.CodeForbiddenHost
	CodeForbiddenOrigin      = api.CodeForbiddenOrigin
	CodeNotFound             = api.CodeNotFound
	CodeSessionNotFound      = api.CodeSessionNotFound
	CodeParticipantNotFound  = api.CodeParticipantNotFound
	CodeMethodNotAllowed     = api.CodeMethodNotAllowed
	CodeParticipantExists    = api.CodeParticipantExists
	CodeSessionFull          = api.CodeSessionFull
	CodeSessionConflict      = api.CodeSessionConflict
	CodeDrainConflict        = api.CodeDrainConflict
	CodeNoDrain              = api.CodeNoDrain
	CodeBodyTooLarge         = api.CodeBodyTooLarge
	CodeUnsupportedMediaType = api.CodeUnsupportedMediaType
	CodeInternal             = api.CodeInternal
	CodeNotImplemented       = api.CodeNotImplemented
	CodeNotAccepting         = api.CodeNotAccepting
	CodeShuttingDown         = api.CodeShuttingDown
	CodeTimeout              = api.CodeTimeout
	CodeClientClosed         = api.CodeClientClosed
)

// StatusClientClosedRequest is the (nginx) status recorded when the client
// went away before the answer; nobody receives it.
const StatusClientClosedRequest = api.StatusClientClosedRequest

// ErrorResponse is the body of every error answer.
type ErrorResponse = api.ErrorResponse

// APIError is an error with its HTTP answer (httpapi.Error). Handlers
// return it for failures of their own (a bad body, a bad id); errors of
// the session manager are mapped by handleError instead.
type APIError = httpapi.Error

func apiErrorf(status int, code, format string, args ...any) *APIError {
	return httpapi.Errorf(status, code, format, args...)
}

// toAPIError classifies err: the session manager's sentinels with the api
// error table (api.CodeOf). Messages of the session manager's errors are
// meant for the caller and are sent; anything unknown is an internal error
// whose message stays in the log.
func toAPIError(r *http.Request, err error) *APIError {
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae
	}
	if code, status, ok := api.CodeOf(err); ok {
		return &APIError{Status: status, Code: code, Message: err.Error()}
	}
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return &APIError{Status: StatusClientClosedRequest, Code: CodeClientClosed,
			Message: "the client closed the request", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeTimeout,
			Message: "the session manager did not answer in time", Err: err}
	}
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: "internal error", Err: err}
}

// handleError writes err as {"error","code"} with its status, adding
// Retry-After to not_accepting answers. The request log line (see
// observe) carries the code and, for a 5xx, the cause.
func (s *Server) handleError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(r, err)
	if rec := recorderOf(w); rec != nil {
		rec.Code = ae.Code
		if ae.Status >= 500 {
			rec.Cause = err
		}
	}
	if ae.Code == CodeNotAccepting {
		w.Header().Set("Retry-After", strconv.FormatInt(s.retryAfterSeconds, 10))
	}
	_ = WriteJSON(w, ae.Status, ErrorResponse{Error: ae.Message, Code: ae.Code})
}
