package api

import (
	"errors"
	"net/http"
)

// Errors callers match on with errors.Is. The session manager returns
// them (wrapped, with details); the admin plane answers each with its
// code and HTTP status (see Codes); the client turns an answer back into
// the sentinel (SentinelOf).
var (
	// ErrInvalid: a malformed id or option (400).
	ErrInvalid = errors.New("invalid request")
	// ErrSessionNotFound: no session with that id (404).
	ErrSessionNotFound = errors.New("session not found")
	// ErrParticipantNotFound: no participant with that id in the session (404).
	ErrParticipantNotFound = errors.New("participant not found")
	// ErrParticipantExists: the participant id is taken in the session (409).
	ErrParticipantExists = errors.New("participant already exists")
	// ErrSessionFull: the session has its most participants (409).
	ErrSessionFull = errors.New("session full")
	// ErrSessionConflict: PUT of an existing session with different options (409).
	ErrSessionConflict = errors.New("session exists with other options")
	// ErrNotAccepting: the pod takes no new sessions or participants now
	// (full, stopped or draining; 503 with Retry-After). Wrapped errors say
	// which limit.
	ErrNotAccepting = errors.New("not accepting")
	// ErrClosed: the session manager is shut down (503 shutting_down).
	ErrClosed = errors.New("session manager closed")
	// ErrDrainConflict: the drain cannot do that now (409): a drain is
	// already running, it is past its grace period (cannot be cancelled),
	// or accept-resume during a drain.
	ErrDrainConflict = errors.New("drain conflict")
	// ErrNoDrain: there is no drain to cancel (404).
	ErrNoDrain = errors.New("no drain")
	// ErrStoreUnavailable: the fleet router's shared store (Redis) cannot
	// be reached or is rebuilding, so it places no new session now (503
	// store_unavailable, with Retry-After).
	ErrStoreUnavailable = errors.New("store unavailable")
	// ErrPoolNotFound: the router knows no pool of that name (configured,
	// set through the API, or reported by a pod).
	ErrPoolNotFound = errors.New("pool not found")
	// ErrPodNotFound: the router knows no pod of that name.
	ErrPodNotFound = errors.New("pod not found")
)

// Machine-readable error codes, the "code" of every error answer.
const (
	CodeInvalidRequest       = "invalid_request"        // 400: a bad option (ErrInvalid) or a field of the wrong type
	CodeInvalidID            = "invalid_id"             // 400: an id is not 1-64 of [A-Za-z0-9._-] (ValidID)
	CodeMalformedJSON        = "malformed_json"         // 400: not JSON, not an object, or data after the object
	CodeUnknownField         = "unknown_field"          // 400: a field the endpoint does not know (names are case-sensitive)
	CodeDuplicateField       = "duplicate_field"        // 400: a key twice in one object of the body
	CodeMalformedRequest     = "malformed_request"      // 400: net/http could not parse the request (request line, a header, the Host)
	CodeHeaderTooLarge       = "header_too_large"       // 431: the request's header is over the server's limit
	CodeUnsupportedProtocol  = "unsupported_protocol"   // 501, 505, 417: a transfer encoding, HTTP version or Expect the server does not support
	CodeUnauthorized         = "unauthorized"           // 401: no bearer token, or a malformed Authorization header
	CodeForbidden            = "forbidden"              // 403: wrong token
	CodeForbiddenHost        = "forbidden_host"         // 403: open API (no token) and a non-loopback Host
	CodeForbiddenOrigin      = "forbidden_origin"       // 403: open API (no token) and a browser Origin
	CodeNotFound             = "not_found"              // 404: no such route (or pprof profile)
	CodeSessionNotFound      = "session_not_found"      // 404: ErrSessionNotFound
	CodeParticipantNotFound  = "participant_not_found"  // 404: ErrParticipantNotFound
	CodeMethodNotAllowed     = "method_not_allowed"     // 405, with Allow
	CodeParticipantExists    = "participant_exists"     // 409: ErrParticipantExists
	CodeSessionFull          = "session_full"           // 409: ErrSessionFull
	CodeSessionConflict      = "session_conflict"       // 409: ErrSessionConflict
	CodeDrainConflict        = "drain_conflict"         // 409: ErrDrainConflict
	CodeNoDrain              = "no_drain"               // 404: ErrNoDrain
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: a body that is not application/json
	CodeInternal             = "internal"               // 500: details in the server log only
	CodeNotImplemented       = "not_implemented"        // 501: the server lacks the feature (drain, routing)
	CodeNotAccepting         = "not_accepting"          // 503, with Retry-After: ErrNotAccepting
	CodeShuttingDown         = "shutting_down"          // 503: ErrClosed
	CodeTimeout              = "timeout"                // 503: the session manager did not answer in time
	CodePodUnreachable       = "pod_unreachable"        // 502: the router could not reach the session's pod (or it answered nonsense)
	CodeStoreUnavailable     = "store_unavailable"      // 503, with Retry-After: ErrStoreUnavailable (the router's Redis is down or rebuilding)
	CodeClientClosed         = "client_closed_request"  // 499: the client went away (logged, never seen)
	CodePoolNotFound         = "pool_not_found"         // 404: ErrPoolNotFound (the router)
	CodePodNotFound          = "pod_not_found"          // 404: ErrPodNotFound (the router)
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

// ErrorCode is one row of the error table: a machine code, the HTTP
// status answered with it, and the sentinel it stands for (nil for codes
// of the HTTP layer alone, such as unauthorized).
type ErrorCode struct {
	Code   string
	Status int
	Err    error
}

// codes is the error table. Order matters for CodeOf: the first row whose
// sentinel matches wins, so ErrClosed (which may wrap with others) comes
// first, and the first row of a sentinel is the code answered for it
// (invalid_request for ErrInvalid; the other 400 codes are the HTTP
// layer's and map back to ErrInvalid).
var codes = []ErrorCode{
	{CodeShuttingDown, http.StatusServiceUnavailable, ErrClosed},
	{CodeInvalidRequest, http.StatusBadRequest, ErrInvalid},
	{CodeSessionNotFound, http.StatusNotFound, ErrSessionNotFound},
	{CodeParticipantNotFound, http.StatusNotFound, ErrParticipantNotFound},
	{CodeParticipantExists, http.StatusConflict, ErrParticipantExists},
	{CodeSessionFull, http.StatusConflict, ErrSessionFull},
	{CodeSessionConflict, http.StatusConflict, ErrSessionConflict},
	{CodeNotAccepting, http.StatusServiceUnavailable, ErrNotAccepting},
	{CodeDrainConflict, http.StatusConflict, ErrDrainConflict},
	{CodeNoDrain, http.StatusNotFound, ErrNoDrain},
	{CodeStoreUnavailable, http.StatusServiceUnavailable, ErrStoreUnavailable},
	{CodePoolNotFound, http.StatusNotFound, ErrPoolNotFound},
	{CodePodNotFound, http.StatusNotFound, ErrPodNotFound},

	{CodeInvalidID, http.StatusBadRequest, ErrInvalid},
	{CodeMalformedJSON, http.StatusBadRequest, ErrInvalid},
	{CodeUnknownField, http.StatusBadRequest, ErrInvalid},
	{CodeDuplicateField, http.StatusBadRequest, ErrInvalid},
	{CodeMalformedRequest, http.StatusBadRequest, ErrInvalid},

	{CodeUnauthorized, http.StatusUnauthorized, nil},
	{CodeForbidden, http.StatusForbidden, nil},
	{CodeForbiddenHost, http.StatusForbidden, nil},
	{CodeForbiddenOrigin, http.StatusForbidden, nil},
	{CodeNotFound, http.StatusNotFound, nil},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, nil},
	{CodeBodyTooLarge, http.StatusRequestEntityTooLarge, nil},
	{CodeHeaderTooLarge, http.StatusRequestHeaderFieldsTooLarge, nil},
	{CodeUnsupportedProtocol, http.StatusNotImplemented, nil},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, nil},
	{CodeInternal, http.StatusInternalServerError, nil},
	{CodeNotImplemented, http.StatusNotImplemented, nil},
	{CodeTimeout, http.StatusServiceUnavailable, nil},
	{CodePodUnreachable, http.StatusBadGateway, nil},
	{CodeClientClosed, StatusClientClosedRequest, nil},
}

// Codes returns the error table, every code once: the admin plane answers
// with it, the client reads answers back with it.
func Codes() []ErrorCode { return append([]ErrorCode(nil), codes...) }

// CodeOf classifies an error of the session manager: the code and HTTP
// status of the first sentinel err matches (errors.Is), ok false if none.
func CodeOf(err error) (code string, status int, ok bool) {
	if err == nil {
		return "", 0, false
	}
	for _, c := range codes {
		if c.Err != nil && errors.Is(err, c.Err) {
			return c.Code, c.Status, true
		}
	}
	return "", 0, false
}

// SentinelOf returns the sentinel an error answer's code stands for, nil
// if none (an unknown code, or one of the HTTP layer alone).
func SentinelOf(code string) error {
	for _, c := range codes {
		if c.Code == code {
			return c.Err
		}
	}
	return nil
}

// StatusOf returns the HTTP status answered with code, 0 for an unknown
// code.
func StatusOf(code string) int {
	for _, c := range codes {
		if c.Code == code {
			return c.Status
		}
	}
	return 0
}
