package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/voxfleet/vox/api"
)

// Errors callers match on.
var (
	// ErrClosed is returned by a Participant's methods after Close or
	// Leave.
	ErrClosed = errors.New("client: participant closed")
	// ErrPayloadTooLarge is returned by Send when the packet would not fit
	// in the participant's send buffer (MaxPacketSize).
	ErrPayloadTooLarge = errors.New("client: payload too large")
)

// APIError is the error the session API answered with: any status outside
// 2xx. Its body, when JSON, is an api.ErrorResponse {"error", "code"}.
//
// errors.Is matches an APIError against package api's sentinels by its
// code, with api's error table (api.SentinelOf): invalid_request,
// unknown_field, malformed_json and invalid_id match api.ErrInvalid;
// session_not_found ErrSessionNotFound; participant_not_found
// ErrParticipantNotFound; participant_exists ErrParticipantExists;
// session_full ErrSessionFull; session_conflict ErrSessionConflict;
// not_accepting ErrNotAccepting; shutting_down ErrClosed; drain_conflict
// ErrDrainConflict; no_drain ErrNoDrain. (sessionmgr's sentinels are the
// same values.)
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the machine-readable code of the JSON body, empty if the
	// body was not a vox error.
	Code string
	// Message is the human-readable error of the JSON body, or the start
	// of the body (or the status text) when it was not JSON.
	Message string
	// RetryAfter is the Retry-After header (503 not_accepting), 0 if
	// absent.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("vox api: ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteByte(' ')
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Is reports whether target is the api sentinel e's code stands for.
func (e *APIError) Is(target error) bool {
	s := api.SentinelOf(e.Code)
	return s != nil && s == target
}

// Sentinel returns the api sentinel e's code stands for, nil if none.
func (e *APIError) Sentinel() error { return api.SentinelOf(e.Code) }

// Temporary reports whether the request may succeed if retried later: the
// pod is not accepting now (503), or the server is overloaded (429, 502,
// 503, 504).
func (e *APIError) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). It returns 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
