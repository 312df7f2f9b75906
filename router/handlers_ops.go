package router

import (
	"net/http"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/httpapi"
)

// The fleet operations' endpoints (api/fleet.go).

func (s *Server) listPools(w http.ResponseWriter, r *http.Request) error {
	list, err := s.r.Pools(r.Context())
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, list)
}

func (s *Server) getPool(w http.ResponseWriter, r *http.Request) error {
	name, err := httpapi.PathID(r, "pool")
	if err != nil {
		return err
	}
	p, err := s.r.Pool(r.Context(), name)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, p)
}

// putPool: PUT /v1/pools/{pool} with an api.PoolUpdate.
func (s *Server) putPool(w http.ResponseWriter, r *http.Request) error {
	name, err := httpapi.PathID(r, "pool")
	if err != nil {
		return err
	}
	var u api.PoolUpdate
	if err := httpapi.DecodeJSON(w, r, &u, false, s.cfg.MaxBodyBytes); err != nil {
		return err
	}
	p, err := s.r.SetPool(r.Context(), name, u)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, p)
}

func (s *Server) drainPool(w http.ResponseWriter, r *http.Request) error {
	name, err := httpapi.PathID(r, "pool")
	if err != nil {
		return err
	}
	var none struct{}
	if err := httpapi.DecodeJSON(w, r, &none, true, s.cfg.MaxBodyBytes); err != nil {
		return err
	}
	p, err := s.r.DrainPool(r.Context(), name)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusAccepted, p)
}

func (s *Server) cancelPoolDrain(w http.ResponseWriter, r *http.Request) error {
	name, err := httpapi.PathID(r, "pool")
	if err != nil {
		return err
	}
	p, err := s.r.CancelPoolDrain(r.Context(), name)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, p)
}

func (s *Server) drains(w http.ResponseWriter, r *http.Request) error {
	d, err := s.r.Drains(r.Context())
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, d)
}

// PodDrainRequest is the optional body of POST /v1/pods/{pod}/drain.
type PodDrainRequest struct {
	// Grace is how long the pod's sessions may end by themselves before
	// it drains (default 0: it queues for a drain slot at once).
	Grace api.Duration `json:"grace"`
}

func (s *Server) drainPod(w http.ResponseWriter, r *http.Request) error {
	name, err := httpapi.PathID(r, "pod")
	if err != nil {
		return err
	}
	var req PodDrainRequest
	if err := httpapi.DecodeJSON(w, r, &req, true, s.cfg.MaxBodyBytes); err != nil {
		return err
	}
	d, err := s.r.DrainPod(r.Context(), name, time.Duration(req.Grace))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusAccepted, d)
}

func (s *Server) cancelPodDrain(w http.ResponseWriter, r *http.Request) error {
	name, err := httpapi.PathID(r, "pod")
	if err != nil {
		return err
	}
	d, err := s.r.CancelPodDrain(r.Context(), name)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, d)
}
