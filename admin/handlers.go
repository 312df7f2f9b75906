package admin

import (
	"net/http"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/httpapi"
	"github.com/voxfleet/vox/sessionmgr"
)

// HealthResponse is the body of GET /healthz.
type HealthResponse struct {
	Status string `json:"status"` // "ok"
}

// ReadyResponse is the body of GET /readyz: 200 while the pod accepts new
// sessions, 503 otherwise.
type ReadyResponse struct {
	Ready  bool             `json:"ready"`
	State  sessionmgr.State `json:"state"`
	Reason string           `json:"reason,omitempty"`
}

// StatusResponse is the body of GET /v1/status: the session manager's
// Status with the pod's packet rates.
type StatusResponse struct {
	sessionmgr.Status
	Rates Rates `json:"rates"`
}

// SessionsResponse is the body of GET /v1/sessions.
type SessionsResponse struct {
	Sessions []sessionmgr.SessionInfo `json:"sessions"`
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	return WriteJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) error {
	st := s.backend.Status()
	status := http.StatusOK
	if !st.Accepting {
		status = http.StatusServiceUnavailable
		if rec := recorderOf(w); rec != nil {
			rec.Quiet = true // a state, not a failure: no error log per probe
		}
	}
	return WriteJSON(w, status, ReadyResponse{Ready: st.Accepting, State: st.State, Reason: st.Reason})
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) error {
	st := s.backend.Status()
	rates := s.rates.observe(time.Now(), st.Totals)
	return WriteJSON(w, http.StatusOK, StatusResponse{Status: st, Rates: rates})
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.backend.Sessions(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []sessionmgr.SessionInfo{}
	}
	for i := range list {
		list[i] = normalize(list[i])
	}
	return WriteJSON(w, http.StatusOK, SessionsResponse{Sessions: list})
}

func (s *Server) putSession(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "session_id")
	if err != nil {
		return err
	}
	var opts sessionmgr.SessionOptions
	if err := s.DecodeJSON(w, r, &opts, true); err != nil {
		return err
	}
	info, created, err := s.backend.PutSession(r.Context(), id, opts)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/sessions/"+id)
	}
	return WriteJSON(w, status, normalize(info))
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "session_id")
	if err != nil {
		return err
	}
	info, err := s.backend.Session(r.Context(), id)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, normalize(info))
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "session_id")
	if err != nil {
		return err
	}
	if err := s.backend.DeleteSession(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// invalidDisplayName is the 400 of an admission's bad display_name.
func invalidDisplayName() *APIError {
	return httpapi.Errorf(http.StatusBadRequest, api.CodeInvalidRequest,
		"display_name: 1-%d bytes of UTF-8 without control characters", api.MaxDisplayName)
}

func (s *Server) admit(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "session_id")
	if err != nil {
		return err
	}
	var req sessionmgr.AdmitRequest
	if err := s.DecodeJSON(w, r, &req, true); err != nil {
		return err
	}
	if req.ParticipantID != "" && !ValidID(req.ParticipantID) {
		return invalidID("participant_id", req.ParticipantID)
	}
	if req.DisplayName != "" && !api.ValidDisplayName(req.DisplayName) {
		return invalidDisplayName()
	}
	adm, err := s.backend.Admit(r.Context(), id, req)
	if err != nil {
		return err
	}
	if ValidID(adm.ParticipantID) {
		w.Header().Set("Location", "/v1/sessions/"+id+"/participants/"+adm.ParticipantID)
	}
	return WriteJSON(w, http.StatusCreated, adm)
}

func (s *Server) getParticipant(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "session_id")
	if err != nil {
		return err
	}
	pid, err := PathID(r, "participant_id")
	if err != nil {
		return err
	}
	info, err := s.backend.Session(r.Context(), id)
	if err != nil {
		return err
	}
	for _, p := range info.Participants {
		if p.ID == pid {
			return WriteJSON(w, http.StatusOK, p)
		}
	}
	return apiErrorf(http.StatusNotFound, CodeParticipantNotFound, "no participant %q in session %q", pid, id)
}

func (s *Server) removeParticipant(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "session_id")
	if err != nil {
		return err
	}
	pid, err := PathID(r, "participant_id")
	if err != nil {
		return err
	}
	if err := s.backend.RemoveParticipant(r.Context(), id, pid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// normalize makes an empty participant list [] rather than null.
func normalize(info sessionmgr.SessionInfo) sessionmgr.SessionInfo {
	if info.Participants == nil {
		info.Participants = []sessionmgr.ParticipantInfo{}
	}
	return info
}
