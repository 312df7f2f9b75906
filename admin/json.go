package admin

import (
	"net/http"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/httpapi"
)

// WriteJSON answers with status and v as JSON (httpapi.WriteJSON). The
// body is encoded before anything is written, so an encoding failure is
// still an error answer. Answers are never cached (admissions hold keys).
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	return httpapi.WriteJSON(w, status, v)
}

// DecodeJSON reads the request body, at most Config.MaxBodyBytes, into v
// (a pointer to a struct): one JSON object, nothing after it, no unknown
// field, field names in their exact case, no key twice in any object, and
// not null; a null field is an absent one. Durations must be within their
// bounds (MaxDrainGrace, ...). With allowEmpty an empty body leaves v
// untouched; without it, an empty body is malformed_json. The errors are
// *APIError with the status and code to answer (httpapi.DecodeJSON).
func (s *Server) DecodeJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	return httpapi.DecodeJSON(w, r, v, allowEmpty, s.cfg.MaxBodyBytes)
}

// MaxIDLen is the longest session or participant id.
const MaxIDLen = api.MaxIDLen

// ValidID reports whether id is 1-64 of [A-Za-z0-9._-], and not "." or
// ".." (api.ValidID).
func ValidID(id string) bool { return api.ValidID(id) }

// PathID returns the URL parameter name, checked with ValidID (an
// *APIError invalid_id otherwise).
func PathID(r *http.Request, name string) (string, error) { return httpapi.PathID(r, name) }

func invalidID(what, id string) *APIError { return httpapi.InvalidID(what, id) }

// Bounds of the durations in request bodies, checked by DecodeJSON
// (httpapi's, shared with the fleet router).
const (
	MaxDrainGrace    = httpapi.MaxDrainGrace
	MaxDrainDeadline = httpapi.MaxDrainDeadline
	MaxNoticeWindow  = httpapi.MaxNoticeWindow
	MinEmptyTimeout  = httpapi.MinEmptyTimeout
	MaxEmptyTimeout  = httpapi.MaxEmptyTimeout
	MaxDuration      = httpapi.MaxDuration
)
