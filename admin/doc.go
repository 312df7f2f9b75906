// Package admin is vox's HTTP admin plane: a chi router serving JSON to the
// routing service and to operators, health and readiness probes for
// Kubernetes and Agones, Prometheus metrics and pprof.
//
// The package talks to the session manager only through Backend, a
// consumer-side interface, so it never reaches into per-packet state: every
// call is a request to the manager, which owns its data.
//
// Routes (see docs/api.md for the bodies):
//
//	GET    /healthz                                  unauthenticated
//	GET    /readyz                                   unauthenticated
//	GET    /metrics                                  unauthenticated
//	GET    /v1/status
//	GET    /v1/sessions
//	PUT    /v1/sessions/{id}
//	GET    /v1/sessions/{id}
//	DELETE /v1/sessions/{id}
//	POST   /v1/sessions/{id}/participants
//	GET    /v1/sessions/{id}/participants/{pid}
//	DELETE /v1/sessions/{id}/participants/{pid}
//	PUT    /v1/sessions/{id}/participants/{pid}/mute       Router
//	PUT    /v1/sessions/{id}/participants/{pid}/mutes      Router
//	PUT    /v1/sessions/{id}/participants/{pid}/channel    Router
//	PUT    /v1/sessions/{id}/participants/{pid}/mix        Router
//	POST   /v1/accept-stop                           Drainer
//	POST   /v1/accept-resume                         Drainer
//	POST   /v1/drain                                 Drainer
//	DELETE /v1/drain                                 Drainer
//	POST   /v1/reconnect                             Drainer
//	GET    /debug/pprof/...
//
// The routes marked Drainer (Router) need a Backend that also implements
// Drainer (Router); *sessionmgr.Manager implements both. With another
// Backend they answer 501 not_implemented.
//
// Everything under /v1 and /debug/pprof needs the bearer token when one is
// configured; RouteFunc adds more /v1 routes with the same protection and
// error handling.
//
// Handlers return an error instead of writing one; handleError turns every
// error, including the router's own 404 and 405, into
// {"error": "...", "code": "..."} with the matching status.
package admin
