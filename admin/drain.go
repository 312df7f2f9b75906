package admin

import (
	"fmt"
	"math"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/sessionmgr"
)

// Drainer is the optional part of a Backend that stops admission, drains
// the pod and sends reconnect notices. *sessionmgr.Manager implements it;
// the admin plane finds it with a type assertion on the Backend, and
// answers 501 not_implemented on the drain routes when the Backend is not
// a Drainer.
//
// Errors wrap sessionmgr's sentinels like the Backend's:
// ErrDrainConflict (409 drain_conflict), ErrNoDrain (404 no_drain),
// ErrInvalid (400), ErrSessionNotFound (404).
type Drainer interface {
	// StopAccepting stops admitting new sessions and participants; the
	// sessions in progress continue.
	StopAccepting(reason string)
	// StopNewSessions stops admitting new sessions only; members still
	// join the sessions in progress.
	StopNewSessions(reason string)
	// ResumeAccepting undoes StopAccepting and StopNewSessions; ErrDrainConflict while a
	// drain runs.
	ResumeAccepting() error
	// StartDrain starts a drain; ErrDrainConflict if one runs already,
	// ErrInvalid for bad parameters.
	StartDrain(reason string, req sessionmgr.DrainRequest) (sessionmgr.DrainStatus, error)
	// CancelDrain cancels the drain during its grace period; ErrNoDrain
	// if there is none, ErrDrainConflict once notices have started.
	CancelDrain() (sessionmgr.DrainStatus, error)
	// Reconnect sends reconnect notices now, without draining;
	// ErrInvalid for bad parameters, ErrSessionNotFound for an unknown
	// session.
	Reconnect(req sessionmgr.ReconnectRequest) (sessionmgr.ReconnectAnswer, error)
}

var _ Drainer = (*sessionmgr.Manager)(nil)

// DrainReason is the reason StartDrain is given for a drain requested
// over the API (POST /v1/drain).
const DrainReason = "operator drain"

// AcceptStopRequest is the (optional) body of POST /v1/accept-stop.
type AcceptStopRequest = api.AcceptStopRequest

// maxReasonLen bounds an operator's reason, which lands in logs, status
// and probes.
const maxReasonLen = 200

// drainRoutes mounts the drain endpoints on the /v1 router.
func (s *Server) drainRoutes(r chi.Router) {
	r.Post("/accept-stop", s.Wrap(s.acceptStop))
	r.Post("/accept-resume", s.Wrap(s.acceptResume))
	r.Post("/drain", s.Wrap(s.startDrain))
	r.Delete("/drain", s.Wrap(s.cancelDrain))
	r.Post("/reconnect", s.Wrap(s.reconnect))
}

// drainer returns the Backend as a Drainer, or a 501 answer.
func (s *Server) drainer() (Drainer, error) {
	d, ok := s.backend.(Drainer)
	if !ok {
		return nil, apiErrorf(http.StatusNotImplemented, CodeNotImplemented,
			"this server does not support accept-stop, drain or reconnect")
	}
	return d, nil
}

func (s *Server) acceptStop(w http.ResponseWriter, r *http.Request) error {
	d, err := s.drainer()
	if err != nil {
		return err
	}
	var req AcceptStopRequest
	if err := s.DecodeJSON(w, r, &req, true); err != nil {
		return err
	}
	if len(req.Reason) > maxReasonLen {
		return apiErrorf(http.StatusBadRequest, CodeInvalidRequest, "reason is longer than %d bytes", maxReasonLen)
	}
	if req.NewSessionsOnly {
		d.StopNewSessions(req.Reason)
	} else {
		d.StopAccepting(req.Reason)
	}
	return s.status(w, r)
}

func (s *Server) acceptResume(w http.ResponseWriter, r *http.Request) error {
	d, err := s.drainer()
	if err != nil {
		return err
	}
	var none struct{}
	if err := s.DecodeJSON(w, r, &none, true); err != nil {
		return err
	}
	if err := d.ResumeAccepting(); err != nil {
		return err
	}
	return s.status(w, r)
}

func (s *Server) startDrain(w http.ResponseWriter, r *http.Request) error {
	d, err := s.drainer()
	if err != nil {
		return err
	}
	var req sessionmgr.DrainRequest
	if err := s.DecodeJSON(w, r, &req, true); err != nil {
		return err
	}
	if err := checkRate(req.Rate); err != nil {
		return err
	}
	st, err := d.StartDrain(DrainReason, req)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusAccepted, st)
}

func (s *Server) cancelDrain(w http.ResponseWriter, _ *http.Request) error {
	d, err := s.drainer()
	if err != nil {
		return err
	}
	st, err := d.CancelDrain()
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, st)
}

func (s *Server) reconnect(w http.ResponseWriter, r *http.Request) error {
	d, err := s.drainer()
	if err != nil {
		return err
	}
	var req sessionmgr.ReconnectRequest
	if err := s.DecodeJSON(w, r, &req, true); err != nil {
		return err
	}
	if err := checkRate(req.Rate); err != nil {
		return err
	}
	// Absent (or null) means every session; an empty list names none,
	// which is almost certainly a caller's bug, not "all".
	if req.Sessions != nil && len(req.Sessions) == 0 {
		return apiErrorf(http.StatusBadRequest, CodeInvalidRequest,
			`field "sessions" is an empty list: name at least one session, or leave the field out for every session`)
	}
	for _, id := range req.Sessions {
		if !ValidID(id) {
			return invalidID("session", id)
		}
	}
	ans, err := d.Reconnect(req)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusAccepted, ans)
}

// checkRate refuses a negative rate (0 means the default).
func checkRate(rate float64) error {
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return apiErrorf(http.StatusBadRequest, CodeInvalidRequest,
			"field \"rate\" must be a positive number of notices per second (0 or absent: the default), not %s", fmt.Sprint(rate))
	}
	return nil
}

// drainPhases are the values of the phase label of vox_drain_phase.
var drainPhases = []string{
	sessionmgr.DrainGrace, sessionmgr.DrainNotifying, sessionmgr.DrainDrained, sessionmgr.DrainCancelled,
}

// writeDrainMetrics writes the vox_drain_* families from the drain's
// status (nil when there has been no drain: every series 0) and the
// vox_reconnect_notices_total counter.
func writeDrainMetrics(p *promWriter, d *sessionmgr.DrainStatus, reconnectNotices uint64) {
	var z sessionmgr.DrainStatus
	if d == nil {
		d = &z
	}
	p.family("vox_drain_phase", "gauge", "The drain's phase: 1 for the current one, all 0 when there is no drain.")
	phases := drainPhases
	if d.Phase != "" && !slices.Contains(phases, d.Phase) {
		phases = append(slices.Clone(phases), d.Phase)
	}
	for _, ph := range phases {
		p.sample("vox_drain_phase", label("phase", ph), b2f(ph == d.Phase))
	}
	p.gauge("vox_drain_participants_left", "Participants still on the pod during the drain.", "", float64(d.ParticipantsLeft))
	p.counter("vox_drain_notices_sent_total", "Reconnect notices sent by the drain (first notices; per drain).", d.NoticesSent)
	p.counter("vox_drain_notices_repeated_total", "Reconnect notices repeated to participants that had not left yet (per drain).", d.NoticesRepeated)
	p.counter("vox_drain_reconnected_total", "Notified participants that left with a BYE during the drain (per drain).", d.Reconnected)
	p.counter("vox_drain_timed_out_total", "Notified participants removed by the idle timeout during the drain (per drain).", d.TimedOut)
	p.counter("vox_drain_removed_at_deadline_total", "Participants removed at the drain's deadline (per drain).", d.RemovedAtDeadline)
	p.counter("vox_reconnect_notices_total", "Reconnect notices sent for POST /v1/reconnect requests (outside drains).", reconnectNotices)
}
