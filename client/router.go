package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/voxfleet/vox/api"
)

// The fleet router's calls (cmd/voxrouter). The router takes the session
// calls of a pod (Admit, RemoveParticipant, DeleteSession) unchanged, so
// an API whose BaseURL is a router works for those; the methods below are
// the router's own.

// AdmitRouted admits a participant through the router: POST
// /v1/sessions/{id}/participants, with from_pod when the participant
// follows a reconnect notice from that pod (the router then moves the
// session off it). The answer is the pod's admission and where it landed.
func (a *API) AdmitRouted(ctx context.Context, sessionID string, req api.AdmitRequest, fromPod string) (api.RouterAdmission, error) {
	var adm api.RouterAdmission
	s, err := segment("session", sessionID)
	if err != nil {
		return adm, err
	}
	path := "/v1/sessions/" + s + "/participants"
	if fromPod != "" {
		if _, err := segment("pod", fromPod); err != nil {
			return adm, err
		}
		path += "?from_pod=" + url.QueryEscape(fromPod)
	}
	_, err = a.Do(ctx, http.MethodPost, path, req, &adm)
	return adm, err
}

// WhereIs asks the router where session id lives: GET /v1/sessions/{id}
// on the router.
func (a *API) WhereIs(ctx context.Context, sessionID string) (api.RouterSession, error) {
	var out api.RouterSession
	s, err := segment("session", sessionID)
	if err != nil {
		return out, err
	}
	_, err = a.Do(ctx, http.MethodGet, "/v1/sessions/"+s, nil, &out)
	return out, err
}

// Pods lists the router's pods: GET /v1/pods.
func (a *API) Pods(ctx context.Context) (api.PodList, error) {
	var out api.PodList
	_, err := a.Do(ctx, http.MethodGet, "/v1/pods", nil, &out)
	return out, err
}

// RouterStatus returns the router's status: GET /v1/status on the router.
func (a *API) RouterStatus(ctx context.Context) (api.RouterStatus, error) {
	var out api.RouterStatus
	_, err := a.Do(ctx, http.MethodGet, "/v1/status", nil, &out)
	return out, err
}

// Report posts a pod's report to the router: POST /v1/pods/{name}/report
// (with the router's report token as the API's Token).
func (a *API) Report(ctx context.Context, rep api.PodReport) error {
	n, err := segment("pod", rep.Name)
	if err != nil {
		return err
	}
	_, err = a.Do(ctx, http.MethodPost, "/v1/pods/"+n+"/report", rep, nil)
	return err
}
