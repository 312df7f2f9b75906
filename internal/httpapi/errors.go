package httpapi

import (
	"fmt"
)

// Error is an error with its HTTP answer: handlers return it for failures
// of their own (a bad body, a bad id); the server writes it as
// {"error": Message, "code": Code} with Status.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the machine code (one of package api's Code* constants).
	Code string
	// Message is sent to the client.
	Message string
	// Err is the cause: logged with a 5xx, never sent.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with status, code and a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}
