package agones

import (
	"errors"
	"strconv"
	"strings"
)

// Errors callers match on.
var (
	// ErrNotFound matches a sidecar answer saying an undeclared counter
	// or list, or a list value absent. The two SDK servers word it
	// differently: the sidecar in a cluster (pkg/sdkserver/sdkserver.go)
	// answers "counter not found: NAME", "list not found: NAME" and "not
	// found: value V not in list L"; the local SDK server (localsdk.go)
	// answers "not found. ...". Both are matched.
	ErrNotFound = errors.New("agones: not found")
	// ErrOutOfRange matches a sidecar answer whose message starts with
	// "out of range." (a count outside [0, capacity], a full list).
	ErrOutOfRange = errors.New("agones: out of range")
	// ErrAlreadyExists matches a sidecar answer whose message starts with
	// "already exists." (a list value already present).
	ErrAlreadyExists = errors.New("agones: already exists")
	// ErrUnavailable is returned when nothing answers at the sidecar's
	// address (connection refused, or the dial failed): vox is not running
	// under Agones, or the sidecar is not up yet.
	ErrUnavailable = errors.New("agones: SDK sidecar unavailable")
	// ErrInvalidLabel is returned, wrapped, by SanitizeLabelKey,
	// SanitizeLabelValue, SetLabel and SetAnnotation for a key or value
	// that cannot be made acceptable to Kubernetes. SetLabel returns it
	// without sending anything.
	ErrInvalidLabel = errors.New("agones: invalid label")
)

// Message prefixes of the sidecar's well-known refusals, matched by
// (*Error).Is.
var messageErrors = []struct {
	prefix string
	err    error
}{
	{"not found.", ErrNotFound},         // local SDK server (localsdk.go)
	{"not found:", ErrNotFound},         // in-cluster sidecar: a list value absent
	{"counter not found:", ErrNotFound}, // in-cluster sidecar (sdkserver.go)
	{"list not found:", ErrNotFound},    // in-cluster sidecar (sdkserver.go)
	{"out of range.", ErrOutOfRange},
	{"already exists.", ErrAlreadyExists},
}

// Error is an answer of the sidecar outside 2xx. The sidecar (a gRPC
// gateway) answers {"code":2,"message":"...","details":[]}, usually with
// HTTP 500; a cluster's sidecar answers 400 for an invalid label or
// annotation.
//
// errors.Is matches an *Error against ErrNotFound, ErrOutOfRange and
// ErrAlreadyExists by the prefix of its Message.
type Error struct {
	// HTTPStatus is the HTTP status code.
	HTTPStatus int
	// Code is the gRPC status code of the body (2 = Unknown), 0 when the
	// body was not a gRPC status.
	Code int
	// Message is the body's message, or the start of the body when it was
	// not a gRPC status.
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sidecar answered ")
	b.WriteString(strconv.Itoa(e.HTTPStatus))
	if e.Code != 0 {
		b.WriteString(" (code ")
		b.WriteString(strconv.Itoa(e.Code))
		b.WriteByte(')')
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is the sentinel e's message stands for.
func (e *Error) Is(target error) bool {
	s := e.sentinel()
	return s != nil && s == target
}

// sentinel returns the sentinel e's message starts with, nil if none.
func (e *Error) sentinel() error {
	for _, m := range messageErrors {
		if strings.HasPrefix(e.Message, m.prefix) {
			return m.err
		}
	}
	return nil
}
