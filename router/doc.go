// Package router is vox's fleet router (cmd/voxrouter): it places voice
// sessions on voxd pods and proxies admissions to them, so a game backend
// talks to one API for the whole fleet.
//
//   - Pods report themselves (POST /v1/pods/{name}/report, every second;
//     api.PodReport) into the registry (registry.go). A pod that misses its
//     reports (Config.StaleAfter) gets nothing new at once and is forgotten
//     after Config.ForgetAfter. The pods are the source of truth: the
//     router rebuilds its session map from their reports (reports.go).
//   - A session lives on exactly one pod; every member's admission goes
//     there (admit.go). A new session goes to the fullest pod with room
//     (pack; Store.Reserve), never a full, stale, draining, not accepting
//     or suspended one. A pod refusing a new session (503, or unreachable)
//     is suspended and the admission retried elsewhere, invisibly. A
//     session whose pod drains or is gone moves with its first
//     re-admission; the other members follow.
//   - The Store (store.go) holds the session → pod map and the slots the
//     router took on each pod since that pod's last report (so it never
//     over-fills a pod between reports), with atomic operations a shared
//     store (Redis, later) can implement with one script each; MemStore is
//     the one-replica default.
//   - Server (server.go, routes.go) is the HTTP API: the same JSON error
//     shape, codes and strict decoding as voxd's admin plane (package
//     internal/httpapi), a bearer token for the game backend and another
//     for the pods' reports, Prometheus metrics (vox_router_*).
//
// The request path reads the registry (a mutex held for a map lookup or a
// scan of the pods), calls the store and the pod; everything else
// (forgetting silent pods) runs in the background (Router.Sweep). Time is
// passed in (Config.Now) so tests need no sleeps.
//
// The package imports api, client and internal/httpapi, never sessionmgr
// or admin: it speaks to pods only over their admin API.
package router
