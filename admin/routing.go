package admin

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/sessionmgr"
)

// Router is the optional part of a Backend that controls forward-mode
// routing: server mutes, a listener's own mute list and channels.
// *sessionmgr.Manager implements it; with another Backend the routes
// answer 501 not_implemented.
//
// Errors wrap sessionmgr's sentinels: ErrInvalid (400),
// ErrSessionNotFound and ErrParticipantNotFound (404).
type Router interface {
	// SetMuted mutes (or unmutes) a participant for everybody.
	SetMuted(ctx context.Context, sessionID, participantID string, muted bool) error
	// SetMutes replaces a listener's own mute list.
	SetMutes(ctx context.Context, sessionID, participantID string, mutes sessionmgr.MuteList) error
	// SetChannel puts a participant in a channel ("" or "global": the
	// global one).
	SetChannel(ctx context.Context, sessionID, participantID, channel string) error
	// SetMix turns a participant's own mixed stream on or off (ErrInvalid
	// when the binary has no libopus).
	SetMix(ctx context.Context, sessionID, participantID string, on bool) error
}

var _ Router = (*sessionmgr.Manager)(nil)

// The bodies of the routing endpoints (package api's).
type (
	// MuteRequest is the body of PUT .../participants/{pid}/mute.
	MuteRequest = api.MuteRequest
	// MixRequest is the body of PUT .../participants/{pid}/mix.
	MixRequest = api.MixRequest
	// ChannelRequest is the body of PUT .../participants/{pid}/channel.
	ChannelRequest = api.ChannelRequest
)

// routingRoutes mounts the routing endpoints on the /v1 router.
func (s *Server) routingRoutes(r chi.Router) {
	r.Put("/sessions/{session_id}/participants/{participant_id}/mute", s.Wrap(s.putMute))
	r.Put("/sessions/{session_id}/participants/{participant_id}/mutes", s.Wrap(s.putMutes))
	r.Put("/sessions/{session_id}/participants/{participant_id}/channel", s.Wrap(s.putChannel))
	r.Put("/sessions/{session_id}/participants/{participant_id}/mix", s.Wrap(s.putMix))
}

// routingTarget checks the route's ids and finds the Router.
func (s *Server) routingTarget(r *http.Request) (Router, string, string, error) {
	rt, ok := s.backend.(Router)
	if !ok {
		return nil, "", "", apiErrorf(http.StatusNotImplemented, CodeNotImplemented,
			"this server does not support mutes and channels")
	}
	id, err := PathID(r, "session_id")
	if err != nil {
		return nil, "", "", err
	}
	pid, err := PathID(r, "participant_id")
	if err != nil {
		return nil, "", "", err
	}
	return rt, id, pid, nil
}

func (s *Server) putMute(w http.ResponseWriter, r *http.Request) error {
	rt, id, pid, err := s.routingTarget(r)
	if err != nil {
		return err
	}
	var req MuteRequest
	if err := s.DecodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Muted == nil {
		return apiErrorf(http.StatusBadRequest, CodeInvalidRequest, `field "muted" (true or false) is required`)
	}
	if err := rt.SetMuted(r.Context(), id, pid, *req.Muted); err != nil {
		return err
	}
	return s.getParticipant(w, r)
}

func (s *Server) putMutes(w http.ResponseWriter, r *http.Request) error {
	rt, id, pid, err := s.routingTarget(r)
	if err != nil {
		return err
	}
	var req sessionmgr.MuteList
	if err := s.DecodeJSON(w, r, &req, false); err != nil {
		return err
	}
	for _, p := range req.Participants {
		if !ValidID(p) {
			return invalidID("participants", p)
		}
	}
	if err := rt.SetMutes(r.Context(), id, pid, req); err != nil {
		return err
	}
	return s.getParticipant(w, r)
}

func (s *Server) putChannel(w http.ResponseWriter, r *http.Request) error {
	rt, id, pid, err := s.routingTarget(r)
	if err != nil {
		return err
	}
	var req ChannelRequest
	if err := s.DecodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Channel == nil {
		return apiErrorf(http.StatusBadRequest, CodeInvalidRequest, `field "channel" is required ("global" for the global channel)`)
	}
	if *req.Channel != "" && !ValidID(*req.Channel) {
		return invalidID("channel", *req.Channel)
	}
	if err := rt.SetChannel(r.Context(), id, pid, *req.Channel); err != nil {
		return err
	}
	return s.getParticipant(w, r)
}

func (s *Server) putMix(w http.ResponseWriter, r *http.Request) error {
	rt, id, pid, err := s.routingTarget(r)
	if err != nil {
		return err
	}
	var req MixRequest
	if err := s.DecodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Mix == nil {
		return apiErrorf(http.StatusBadRequest, CodeInvalidRequest, `field "mix" (true or false) is required`)
	}
	if err := rt.SetMix(r.Context(), id, pid, *req.Mix); err != nil {
		return err
	}
	return s.getParticipant(w, r)
}
