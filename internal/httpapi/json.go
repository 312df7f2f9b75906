package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/voxfleet/vox/api"
)

// WriteJSON answers with status and v as JSON. The body is encoded before
// anything is written, so an encoding failure is still an error answer.
// Answers are never cached (admissions hold keys).
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("httpapi: encode answer: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// DecodeJSON reads the request body, at most maxBytes, into v
// (a pointer to a struct): one JSON object, nothing after it, no unknown
// field, field names in their exact case, no key twice in any object, and
// not null (see strictJSON); a null field is an absent one. Durations
// must be within their bounds (MaxDrainGrace, ...). With
// allowEmpty an empty body leaves v untouched; without it, an empty body
// is malformed_json. The errors are *Error with the status and code to
// answer.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool, maxBytes int64) error {
	if r.ContentLength > maxBytes {
		return TooLarge(maxBytes)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return Errorf(http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType,
				"the request body must be application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return TooLarge(maxBytes)
		}
		return &Error{Status: http.StatusBadRequest, Code: api.CodeMalformedJSON,
			Message: "could not read the request body", Err: err}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "the request body is empty; a JSON object is required")
	}
	body, err = strictJSON(body, reflect.TypeOf(v))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return checkDurations(v)
}

// TooLarge is the 413 body_too_large answer for a body over limit bytes.
func TooLarge(limit int64) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge,
		"the request body is larger than %d bytes", limit)
}

// decodeError turns an encoding/json error into an answer that names the
// field but not Go types.
func decodeError(err error) *Error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "malformed JSON at byte %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "malformed JSON: unexpected end of the body")
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "the request body must be a JSON object, not %s", te.Value)
		}
		want := jsonKind(te.Type)
		if want == "a number" && strings.HasPrefix(te.Value, "number") {
			return Errorf(http.StatusBadRequest, api.CodeInvalidRequest, "field %q is out of range", te.Field)
		}
		return Errorf(http.StatusBadRequest, api.CodeInvalidRequest, "field %q must be %s, not %s", te.Field, want, te.Value)
	}
	if errors.Is(err, api.ErrUnknownProfile) { // its message lists the supported profiles
		return Errorf(http.StatusBadRequest, api.CodeInvalidRequest, "%v", err)
	}
	if field, ok := unknownField(err); ok {
		return Errorf(http.StatusBadRequest, api.CodeUnknownField, "unknown field %s", field)
	}
	return &Error{Status: http.StatusBadRequest, Code: api.CodeInvalidRequest, Message: err.Error()}
}

// unknownField recognizes Decoder.DisallowUnknownFields's error, which has
// no type of its own: `json: unknown field "name"`.
func unknownField(err error) (string, bool) {
	field, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	return field, ok && field != ""
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value"
}

// PathID returns the URL parameter name, checked with ValidID (an
// *Error invalid_id otherwise).
func PathID(r *http.Request, name string) (string, error) {
	id := chi.URLParam(r, name)
	if !api.ValidID(id) {
		return "", InvalidID(name, id)
	}
	return id, nil
}

// InvalidID is the 400 invalid_id answer for id, named what.
func InvalidID(what, id string) *Error {
	if len(id) > api.MaxIDLen {
		id = id[:api.MaxIDLen] + "..."
	}
	return Errorf(http.StatusBadRequest, api.CodeInvalidID,
		"%s %q is not a valid id (1-%d of A-Z a-z 0-9 . _ -)", what, id, api.MaxIDLen)
}
