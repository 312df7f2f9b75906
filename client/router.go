package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

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
	return a.AdmitRoutedIn(ctx, sessionID, req, fromPod, "")
}

// AdmitRoutedIn is AdmitRouted asking for a region (query parameter
// region; empty: none): a new session goes to a pool of that region when
// one has room.
func (a *API) AdmitRoutedIn(ctx context.Context, sessionID string, req api.AdmitRequest, fromPod, region string) (api.RouterAdmission, error) {
	var adm api.RouterAdmission
	s, err := segment("session", sessionID)
	if err != nil {
		return adm, err
	}
	q := url.Values{}
	if fromPod != "" {
		if _, err := segment("pod", fromPod); err != nil {
			return adm, err
		}
		q.Set("from_pod", fromPod)
	}
	if region != "" {
		if _, err := segment("region", region); err != nil {
			return adm, err
		}
		q.Set("region", region)
	}
	path := "/v1/sessions/" + s + "/participants"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	_, err = a.Do(ctx, http.MethodPost, path, req, &adm)
	return adm, err
}

// Pools lists the router's pools: GET /v1/pools.
func (a *API) Pools(ctx context.Context) (api.PoolList, error) {
	var out api.PoolList
	_, err := a.Do(ctx, http.MethodGet, "/v1/pools", nil, &out)
	return out, err
}

// SetPool changes a pool's weight or region: PUT /v1/pools/{pool}.
func (a *API) SetPool(ctx context.Context, pool string, u api.PoolUpdate) (api.PoolInfo, error) {
	var out api.PoolInfo
	p, err := segment("pool", pool)
	if err != nil {
		return out, err
	}
	_, err = a.Do(ctx, http.MethodPut, "/v1/pools/"+p, u, &out)
	return out, err
}

// DrainPool moves every session off a pool at the router's reconnect
// budget (POST /v1/pools/{pool}/drain); cancel with cancel true (DELETE).
func (a *API) DrainPool(ctx context.Context, pool string, cancel bool) (api.PoolInfo, error) {
	var out api.PoolInfo
	p, err := segment("pool", pool)
	if err != nil {
		return out, err
	}
	method := http.MethodPost
	if cancel {
		method = http.MethodDelete
	}
	_, err = a.Do(ctx, method, "/v1/pools/"+p+"/drain", nil, &out)
	return out, err
}

// DrainPod asks the router to drain one pod at its reconnect budget after
// grace (POST /v1/pods/{pod}/drain); cancel with cancel true (DELETE,
// before the pod begins to drain).
func (a *API) DrainPod(ctx context.Context, pod string, grace time.Duration, cancel bool) (api.PodDrain, error) {
	var out api.PodDrain
	p, err := segment("pod", pod)
	if err != nil {
		return out, err
	}
	if cancel {
		_, err = a.Do(ctx, http.MethodDelete, "/v1/pods/"+p+"/drain", nil, &out)
		return out, err
	}
	body := struct {
		Grace api.Duration `json:"grace"`
	}{api.Duration(grace)}
	_, err = a.Do(ctx, http.MethodPost, "/v1/pods/"+p+"/drain", body, &out)
	return out, err
}

// Drains lists the router's drains and its reconnect budget: GET
// /v1/drains.
func (a *API) Drains(ctx context.Context) (api.FleetDrains, error) {
	var out api.FleetDrains
	_, err := a.Do(ctx, http.MethodGet, "/v1/drains", nil, &out)
	return out, err
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
