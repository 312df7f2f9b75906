package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/voxfleet/vox/sessionmgr"
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

// Machine-readable error codes, the "code" of every error answer.
const (
	CodeInvalidRequest       = "invalid_request"        // 400: a bad option (sessionmgr.ErrInvalid) or a field of the wrong type
	CodeInvalidID            = "invalid_id"             // 400: an id is not 1-64 of [A-Za-z0-9._-]
	CodeMalformedJSON        = "malformed_json"         // 400: not JSON, not an object, or data after the object
	CodeUnknownField         = "unknown_field"          // 400: a field the endpoint does not know (names are case-sensitive)
	CodeDuplicateField       = "duplicate_field"        // 400: a key twice in one object of the body
	CodeUnauthorized         = "unauthorized"           // 401: no bearer token, or a malformed Authorization header
	CodeForbidden            = "forbidden"              // 403: wrong token
	CodeForbiddenHost        = "forbidden_host"         // 403: open API (no token) and a non-loopback Host
	CodeForbiddenOrigin      = "forbidden_origin"       // 403: open API (no token) and a browser Origin
	CodeNotFound             = "not_found"              // 404: no such route (or pprof profile)
	CodeSessionNotFound      = "session_not_found"      // 404
	CodeParticipantNotFound  = "participant_not_found"  // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405, with Allow
	CodeParticipantExists    = "participant_exists"     // 409
	CodeSessionFull          = "session_full"           // 409
	CodeSessionConflict      = "session_conflict"       // 409
	CodeDrainConflict        = "drain_conflict"         // 409: a drain runs already, is past its grace period, or accept-resume while draining
	CodeNoDrain              = "no_drain"               // 404: no drain to cancel
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeHeaderTooLarge       = "header_too_large"       // 431: the request's header is over Config.MaxHeaderBytes
	CodeMalformedRequest     = "malformed_request"      // 400: net/http could not parse the request (request line, a header, the Host)
	CodeUnsupportedProtocol  = "unsupported_protocol"   // 501, 505, 417: a transfer encoding, HTTP version or Expect net/http does not support
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: a body that is not application/json
	CodeInternal             = "internal"               // 500: details in the server log only
	CodeNotImplemented       = "not_implemented"        // 501: the backend cannot drain (not a Drainer)
	CodeNotAccepting         = "not_accepting"          // 503, with Retry-After
	CodeShuttingDown         = "shutting_down"          // 503
	CodeTimeout              = "timeout"                // 503: the session manager did not answer in time
	CodeClientClosed         = "client_closed_request"  // 499: the client went away (logged, never seen)
)

// StatusClientClosedRequest is the (nginx) status recorded when the client
// went away before the answer; nobody receives it.
const StatusClientClosedRequest = 499

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	// Error is a human sentence.
	Error string `json:"error"`
	// Code is one of the Code* constants.
	Code string `json:"code"`
}

// APIError is an error with its HTTP answer. Handlers return it for
// failures of their own (a bad body, a bad id); errors of the session
// manager are mapped by handleError instead.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is the machine code (Code*).
	Code string
	// Message is sent to the client.
	Message string
	// Err is the cause: logged with a 5xx, never sent.
	Err error
}

func (e *APIError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *APIError) Unwrap() error { return e.Err }

func apiErrorf(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// backendErrors maps the session manager's sentinels, first match wins.
var backendErrors = []struct {
	err    error
	status int
	code   string
}{
	{sessionmgr.ErrClosed, http.StatusServiceUnavailable, CodeShuttingDown},
	{sessionmgr.ErrInvalid, http.StatusBadRequest, CodeInvalidRequest},
	{sessionmgr.ErrSessionNotFound, http.StatusNotFound, CodeSessionNotFound},
	{sessionmgr.ErrParticipantNotFound, http.StatusNotFound, CodeParticipantNotFound},
	{sessionmgr.ErrParticipantExists, http.StatusConflict, CodeParticipantExists},
	{sessionmgr.ErrSessionFull, http.StatusConflict, CodeSessionFull},
	{sessionmgr.ErrSessionConflict, http.StatusConflict, CodeSessionConflict},
	{sessionmgr.ErrNotAccepting, http.StatusServiceUnavailable, CodeNotAccepting},
	{sessionmgr.ErrDrainConflict, http.StatusConflict, CodeDrainConflict},
	{sessionmgr.ErrNoDrain, http.StatusNotFound, CodeNoDrain},
}

// toAPIError classifies err. Messages of the session manager's errors are
// meant for the caller and are sent; anything unknown is an internal error
// whose message stays in the log.
func toAPIError(r *http.Request, err error) *APIError {
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae
	}
	for _, m := range backendErrors {
		if errors.Is(err, m.err) {
			return &APIError{Status: m.status, Code: m.code, Message: err.Error()}
		}
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
		rec.code = ae.Code
		if ae.Status >= 500 {
			rec.cause = err
		}
	}
	if ae.Code == CodeNotAccepting {
		w.Header().Set("Retry-After", strconv.FormatInt(s.retryAfterSeconds, 10))
	}
	_ = WriteJSON(w, ae.Status, ErrorResponse{Error: ae.Message, Code: ae.Code})
}
