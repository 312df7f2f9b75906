package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/voxfleet/vox/api"
)

var errEmptyResponse = errors.New("empty response body")

// Limits on what the API client reads from a response.
const (
	maxResponseBody = 16 << 20 // a success body (a pod's whole session list)
	maxErrorBody    = 64 << 10 // an error body
)

// API is a client of a vox pod's session API, as the routing service uses
// it. Its methods are safe for concurrent use.
//
// Errors: a status outside 2xx is an *APIError (errors.Is matches it
// against package api's sentinels); transport failures and undecodable
// answers are returned wrapped as they come.
type API struct {
	// BaseURL is the admin plane's base URL, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// Token is the bearer token sent in every request's Authorization
	// header; empty sends none.
	Token string
	// HTTPClient sends the requests; nil means a shared client with
	// timeouts (DefaultHTTPClient).
	HTTPClient *http.Client
}

// NewAPI returns an API for the pod at baseURL (scheme http or https),
// authenticating with token, using DefaultHTTPClient.
func NewAPI(baseURL, token string) (*API, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	return &API{BaseURL: strings.TrimRight(baseURL, "/"), Token: token}, nil
}

// DefaultHTTPClient is the client an API uses when its HTTPClient is nil:
// a whole request takes at most 30 s, connecting 5 s, waiting for the
// response headers 10 s; it keeps up to 64 idle connections per host so
// that a load tool admitting many participants reuses them.
var DefaultHTTPClient = NewHTTPClient(30 * time.Second)

// NewHTTPClient returns an *http.Client whose requests time out after
// timeout, with the connection limits of DefaultHTTPClient.
func NewHTTPClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

func (a *API) httpClient() *http.Client {
	if a.HTTPClient != nil {
		return a.HTTPClient
	}
	return DefaultHTTPClient
}

// Do sends a request to the API: method and path (from the root, e.g.
// "/v1/drain"; the caller escapes path segments), in marshalled as the
// JSON body when not nil. A 2xx answer is decoded into out when out is not
// nil (an empty body is then an error, except with 204 No Content); any
// other status is returned as an *APIError. Do returns the HTTP status (0 if no answer came).
func (a *API) Do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("client: %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.BaseURL, "/")+path, body)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	resp, err := a.httpClient().Do(req)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, readAPIError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("client: %s %s: read response: %w", method, path, err)
	}
	if len(b) > maxResponseBody {
		return resp.StatusCode, fmt.Errorf("client: %s %s: response larger than %d bytes", method, path, maxResponseBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return resp.StatusCode, fmt.Errorf("client: %s %s: %w", method, path, errEmptyResponse)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("client: %s %s: decode response: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// readAPIError builds the *APIError of a non-2xx response.
func readAPIError(resp *http.Response) *APIError {
	e := &APIError{
		Status:     resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal(b, &body); err == nil && (body.Error != "" || body.Code != "") {
		e.Code, e.Message = body.Code, body.Error
		return e
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

// segment returns one path segment, refusing an id the server would
// refuse (not api.ValidID; an empty one, "." or ".." would even address
// another resource) with an error matching api.ErrInvalid. A valid id
// needs no escaping.
func segment(what, id string) (string, error) {
	if !api.ValidID(id) {
		return "", fmt.Errorf("client: %w: %s id %q", api.ErrInvalid, what, id)
	}
	return id, nil
}

// PutSession creates the session id with opts, or finds it if it exists
// with the same options: PUT /v1/sessions/{id}. created is true when the
// pod created it (201), false when it existed (200). A session that exists
// with other options gives an error matching api.ErrSessionConflict.
func (a *API) PutSession(ctx context.Context, id string, opts api.SessionOptions) (info api.SessionInfo, created bool, err error) {
	s, err := segment("session", id)
	if err != nil {
		return info, false, err
	}
	status, err := a.Do(ctx, http.MethodPut, "/v1/sessions/"+s, opts, &info)
	if err != nil {
		return info, false, err
	}
	return info, status == http.StatusCreated, nil
}

// Session returns the session id: GET /v1/sessions/{id}.
func (a *API) Session(ctx context.Context, id string) (api.SessionInfo, error) {
	var info api.SessionInfo
	s, err := segment("session", id)
	if err != nil {
		return info, err
	}
	_, err = a.Do(ctx, http.MethodGet, "/v1/sessions/"+s, nil, &info)
	return info, err
}

// Sessions returns the pod's sessions: GET /v1/sessions. It accepts the
// list either as a JSON array or as an object {"sessions": [...]}.
func (a *API) Sessions(ctx context.Context) ([]api.SessionInfo, error) {
	var raw json.RawMessage
	if _, err := a.Do(ctx, http.MethodGet, "/v1/sessions", nil, &raw); err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	var list []api.SessionInfo
	if len(raw) > 0 && raw[0] == '{' {
		var obj struct {
			Sessions []api.SessionInfo `json:"sessions"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("client: GET /v1/sessions: decode response: %w", err)
		}
		return obj.Sessions, nil
	}
	if len(raw) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("client: GET /v1/sessions: decode response: %w", err)
	}
	return list, nil
}

// DeleteSession closes the session id and removes its participants:
// DELETE /v1/sessions/{id}.
func (a *API) DeleteSession(ctx context.Context, id string) error {
	s, err := segment("session", id)
	if err != nil {
		return err
	}
	_, err = a.Do(ctx, http.MethodDelete, "/v1/sessions/"+s, nil, nil)
	return err
}

// Admit admits a participant to the session sessionID (created with
// req.Session's options if it does not exist): POST
// /v1/sessions/{id}/participants. The Admission holds everything the game
// client needs; pass it to Join.
func (a *API) Admit(ctx context.Context, sessionID string, req api.AdmitRequest) (api.Admission, error) {
	var adm api.Admission
	s, err := segment("session", sessionID)
	if err != nil {
		return adm, err
	}
	_, err = a.Do(ctx, http.MethodPost, "/v1/sessions/"+s+"/participants", req, &adm)
	return adm, err
}

// Participant returns the participant participantID of the session
// sessionID: GET /v1/sessions/{id}/participants/{pid}.
func (a *API) Participant(ctx context.Context, sessionID, participantID string) (api.ParticipantInfo, error) {
	var info api.ParticipantInfo
	s, err := segment("session", sessionID)
	if err != nil {
		return info, err
	}
	p, err := segment("participant", participantID)
	if err != nil {
		return info, err
	}
	_, err = a.Do(ctx, http.MethodGet, "/v1/sessions/"+s+"/participants/"+p, nil, &info)
	return info, err
}

// RemoveParticipant removes the participant participantID from the
// session sessionID: DELETE /v1/sessions/{id}/participants/{pid}.
func (a *API) RemoveParticipant(ctx context.Context, sessionID, participantID string) error {
	s, err := segment("session", sessionID)
	if err != nil {
		return err
	}
	p, err := segment("participant", participantID)
	if err != nil {
		return err
	}
	_, err = a.Do(ctx, http.MethodDelete, "/v1/sessions/"+s+"/participants/"+p, nil, nil)
	return err
}

// Status returns the pod's status: GET /v1/status.
func (a *API) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	_, err := a.Do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// IsTemporary reports whether err is an *APIError the request may succeed
// after (see APIError.Temporary), and how long the server asked to wait.
func IsTemporary(err error) (retryAfter time.Duration, ok bool) {
	var e *APIError
	if errors.As(err, &e) && e.Temporary() {
		return e.RetryAfter, true
	}
	return 0, false
}

// AcceptStop stops the pod admitting new sessions and participants (the
// sessions in progress continue): POST /v1/accept-stop. reason (optional)
// shows in the status and /readyz. It returns the pod's status after the
// change.
func (a *API) AcceptStop(ctx context.Context, reason string) (api.Status, error) {
	var st api.Status
	var body any
	if reason != "" {
		body = struct {
			Reason string `json:"reason"`
		}{reason}
	}
	_, err := a.Do(ctx, http.MethodPost, "/v1/accept-stop", body, &st)
	return st, err
}

// StopNewSessions stops the pod admitting new sessions only (members
// still join the sessions in progress): POST /v1/accept-stop with
// new_sessions_only. AcceptResume undoes it.
func (a *API) StopNewSessions(ctx context.Context, reason string) (api.Status, error) {
	var st api.Status
	_, err := a.Do(ctx, http.MethodPost, "/v1/accept-stop", api.AcceptStopRequest{Reason: reason, NewSessionsOnly: true}, &st)
	return st, err
}

// AcceptResume undoes AcceptStop: POST /v1/accept-resume. During a drain
// the error matches api.ErrDrainConflict. It returns the pod's
// status after the change.
func (a *API) AcceptResume(ctx context.Context) (api.Status, error) {
	var st api.Status
	_, err := a.Do(ctx, http.MethodPost, "/v1/accept-resume", nil, &st)
	return st, err
}

// Drain starts draining the pod: POST /v1/drain. Zero fields of req take
// the pod's defaults. A drain already running gives an error matching
// api.ErrDrainConflict; bad parameters api.ErrInvalid. The
// progress is in Status().Drain.
func (a *API) Drain(ctx context.Context, req api.DrainRequest) (api.DrainStatus, error) {
	var st api.DrainStatus
	_, err := a.Do(ctx, http.MethodPost, "/v1/drain", req, &st)
	return st, err
}

// CancelDrain cancels the drain during its grace period: DELETE
// /v1/drain. Without a drain the error matches api.ErrNoDrain;
// past the grace period api.ErrDrainConflict.
func (a *API) CancelDrain(ctx context.Context) (api.DrainStatus, error) {
	var st api.DrainStatus
	_, err := a.Do(ctx, http.MethodDelete, "/v1/drain", nil, &st)
	return st, err
}

// Reconnect asks the clients of the sessions in req (all when empty) to
// reconnect elsewhere, without draining: POST /v1/reconnect. An unknown
// session gives an error matching api.ErrSessionNotFound.
func (a *API) Reconnect(ctx context.Context, req api.ReconnectRequest) (api.ReconnectAnswer, error) {
	var ans api.ReconnectAnswer
	_, err := a.Do(ctx, http.MethodPost, "/v1/reconnect", req, &ans)
	return ans, err
}

// participantPut sends body to PUT /v1/sessions/{id}/participants/{pid}/{what}
// and returns the participant as it is afterwards.
func (a *API) participantPut(ctx context.Context, sessionID, participantID, what string, body any) (api.ParticipantInfo, error) {
	var info api.ParticipantInfo
	s, err := segment("session", sessionID)
	if err != nil {
		return info, err
	}
	p, err := segment("participant", participantID)
	if err != nil {
		return info, err
	}
	_, err = a.Do(ctx, http.MethodPut, "/v1/sessions/"+s+"/participants/"+p+"/"+what, body, &info)
	return info, err
}

// SetMuted mutes (or unmutes) a participant on the server, so nobody hears
// it: PUT /v1/sessions/{id}/participants/{pid}/mute.
func (a *API) SetMuted(ctx context.Context, sessionID, participantID string, muted bool) (api.ParticipantInfo, error) {
	return a.participantPut(ctx, sessionID, participantID, "mute", map[string]bool{"muted": muted})
}

// SetMutes replaces a listener's own mute list (the participants and SSRCs
// it does not hear): PUT /v1/sessions/{id}/participants/{pid}/mutes.
func (a *API) SetMutes(ctx context.Context, sessionID, participantID string, mutes api.MuteList) (api.ParticipantInfo, error) {
	if mutes.Participants == nil {
		mutes.Participants = []string{}
	}
	if mutes.SSRCs == nil {
		mutes.SSRCs = []uint32{}
	}
	return a.participantPut(ctx, sessionID, participantID, "mutes", mutes)
}

// SetMix turns a participant's own mixed stream on or off in a forward
// session (one mixed stream of the others, with its server SSRC, instead
// of their forwarded streams): PUT /v1/sessions/{id}/participants/{pid}/mix.
// A server built without libopus answers 400 invalid_request.
func (a *API) SetMix(ctx context.Context, sessionID, participantID string, on bool) (api.ParticipantInfo, error) {
	return a.participantPut(ctx, sessionID, participantID, "mix", map[string]bool{"mix": on})
}

// SetChannel puts a participant in a channel ("global" for the global
// one): PUT /v1/sessions/{id}/participants/{pid}/channel.
func (a *API) SetChannel(ctx context.Context, sessionID, participantID, channel string) (api.ParticipantInfo, error) {
	return a.participantPut(ctx, sessionID, participantID, "channel", map[string]string{"channel": channel})
}
