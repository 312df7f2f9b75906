// Package agonesalloc allocates vox pods through Agones and watches their
// GameServers, for voxrouter's warm pool (the second stage of the
// two-stage allocation; see router.Allocator and docs/router.md).
//
// Two router.Allocator implementations, one request:
//
//   - Kubernetes creates a GameServerAllocation (allocation.agones.dev/v1)
//     through the Kubernetes API with client-go's dynamic client and
//     unstructured objects (the Agones Go module is not a dependency), and
//     reads status.state: Allocated, or UnAllocated / Contention, which
//     mean retry.
//   - Service posts the allocator service's request
//     (POST https://HOST/gameserverallocation, mutual TLS) and reads its
//     answer: 200, or 429 / 409, which mean retry.
//
// Both ask what deploy/agones/allocation.yaml and allocator-request.json
// ask: first an Allocated GameServer of the Fleet with a free "sessions"
// slot, then a Ready one; Packed; the fullest pod first (Counter priority,
// Ascending); the "sessions" Counter +1. Labels are matchLabels only (the
// allocator service drops matchExpressions silently), so a pod must say
// agones.dev/sdk-vox-accepting "true" to be allocated.
//
// Watch runs an informer (client-go tools/cache) on the Fleet's
// GameServers and turns their changes into router.GameServerEvents, so a
// GameServer being deleted or Shutdown leaves placement before its pod's
// reports say so.
//
// Field names and states follow Agones v1.56:
// pkg/apis/allocation/v1/gameserverallocation.go (the Kubernetes route)
// and proto/allocation/allocation.proto (the allocator service, as its
// REST gateway reads and writes JSON).
package agonesalloc
