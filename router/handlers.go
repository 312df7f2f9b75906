package router

import (
	"net/http"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/httpapi"
)

// HealthResponse is the body of GET /healthz.
type HealthResponse struct {
	Status string `json:"status"` // "ok"
}

// ReadyResponse is the body of GET /readyz: 200 once the router has heard
// from a pod (or its ready grace passed), 503 before and while stopping.
type ReadyResponse struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	return httpapi.WriteJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) error {
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	switch {
	case stopping:
		return httpapi.WriteJSON(w, http.StatusServiceUnavailable, ReadyResponse{Reason: "shutting down"})
	case !s.r.Ready():
		return httpapi.WriteJSON(w, http.StatusServiceUnavailable, ReadyResponse{Reason: "no pod has reported yet"})
	}
	return httpapi.WriteJSON(w, http.StatusOK, ReadyResponse{Ready: true})
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	name, err := httpapi.PathID(r, "pod")
	if err != nil {
		return err
	}
	var rep api.PodReport
	if err := httpapi.DecodeJSON(w, r, &rep, false, s.cfg.MaxBodyBytes); err != nil {
		return err
	}
	if rep.Name != name {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeInvalidRequest, "the report's name %q is not the URL's %q", rep.Name, name)
	}
	if err := s.r.Report(r.Context(), rep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	st, err := s.r.Status(r.Context())
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, st)
}

func (s *Server) pods(w http.ResponseWriter, r *http.Request) error {
	list, err := s.r.Pods(r.Context())
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, list)
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) error {
	id, err := httpapi.PathID(r, "session_id")
	if err != nil {
		return err
	}
	info, err := s.r.Session(r.Context(), id)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, info)
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id, err := httpapi.PathID(r, "session_id")
	if err != nil {
		return err
	}
	if err := s.r.DeleteSession(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// admit: POST /v1/sessions/{id}/participants, voxd's admission request;
// the optional query parameter region asks for a pool of that region for
// a new session; from_pod names the pod the caller's
// participant was asked to leave (a reconnect notice), which moves the
// session if it is still there.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) error {
	id, err := httpapi.PathID(r, "session_id")
	if err != nil {
		return err
	}
	var req api.AdmitRequest
	if err := httpapi.DecodeJSON(w, r, &req, true, s.cfg.MaxBodyBytes); err != nil {
		return err
	}
	if req.ParticipantID != "" && !api.ValidID(req.ParticipantID) {
		return httpapi.InvalidID("participant_id", req.ParticipantID)
	}
	from := r.URL.Query().Get("from_pod")
	if from != "" && !api.ValidID(from) {
		return httpapi.InvalidID("from_pod", from)
	}
	region := r.URL.Query().Get("region")
	if region != "" && !api.ValidID(region) {
		return httpapi.InvalidID("region", region)
	}
	adm, err := s.r.AdmitIn(r.Context(), id, req, from, region)
	if err != nil {
		return err
	}
	if api.ValidID(adm.ParticipantID) {
		w.Header().Set("Location", "/v1/sessions/"+id+"/participants/"+adm.ParticipantID)
	}
	return httpapi.WriteJSON(w, http.StatusCreated, adm)
}

func (s *Server) removeParticipant(w http.ResponseWriter, r *http.Request) error {
	id, err := httpapi.PathID(r, "session_id")
	if err != nil {
		return err
	}
	pid, err := httpapi.PathID(r, "participant_id")
	if err != nil {
		return err
	}
	if err := s.r.RemoveParticipant(r.Context(), id, pid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
