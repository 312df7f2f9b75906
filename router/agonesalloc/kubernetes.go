package agonesalloc

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/voxfleet/vox/router"
)

// The Agones resources the router uses (RBAC in deploy/agones/router.yaml:
// create gameserverallocations, get/list/watch gameservers).
var (
	GameServerAllocations = schema.GroupVersionResource{Group: "allocation.agones.dev", Version: "v1", Resource: "gameserverallocations"}
	GameServers           = schema.GroupVersionResource{Group: "agones.dev", Version: "v1", Resource: "gameservers"}
)

// GameServerAllocation status.state values (Agones
// pkg/apis/allocation/v1/gameserverallocation.go).
const (
	StateAllocated   = "Allocated"
	StateUnAllocated = "UnAllocated"
	StateContention  = "Contention"
)

// Kubernetes allocates through the Kubernetes API: it creates a
// GameServerAllocation in the Fleet's namespace and reads its status. It
// is safe for concurrent use.
type Kubernetes struct {
	client dynamic.Interface
	fleet  Fleet
}

var _ router.Allocator = (*Kubernetes)(nil)

// NewKubernetes returns an allocator that creates GameServerAllocations
// with client (dynamic.NewForConfig(RESTConfig(...)) in voxrouter, a fake
// in tests).
func NewKubernetes(client dynamic.Interface, fleet Fleet) (*Kubernetes, error) {
	f, err := fleet.withDefaults()
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("agonesalloc: no Kubernetes client")
	}
	return &Kubernetes{client: client, fleet: f}, nil
}

// Name implements router.Allocator.
func (k *Kubernetes) Name() string { return "kubernetes" }

// Allocate implements router.Allocator: one GameServerAllocation. Its
// answer is HTTP 201 whatever the outcome; status.state says it:
// Allocated, or UnAllocated (nothing free) and Contention (lost a race)
// which wrap router.ErrAllocRetry. An API server that cannot be reached,
// refuses the router's credentials (401, 403), does not serve the resource
// (404: Agones not installed) or is unavailable (503, timeouts) wraps
// router.ErrAllocatorDown.
func (k *Kubernetes) Allocate(ctx context.Context, req router.AllocationRequest) (router.Allocation, error) {
	start := time.Now()
	out, err := k.client.Resource(GameServerAllocations).Namespace(k.fleet.Namespace).
		Create(ctx, k.Request(req), metav1.CreateOptions{})
	if err != nil {
		return router.Allocation{}, kubeErr(ctx, err)
	}
	a, err := k.read(out)
	a.Took = time.Since(start)
	return a, err
}

// Request is the GameServerAllocation Allocate creates for req: the same
// as deploy/agones/allocation.yaml with matchLabels only (the request's
// and agones.dev/fleet).
func (k *Kubernetes) Request(req router.AllocationRequest) *unstructured.Unstructured {
	labels := map[string]any{}
	for key, v := range k.fleet.matchLabels(req) {
		labels[key] = v
	}
	selector := func(state string) any {
		return map[string]any{
			"matchLabels":     labels,
			"gameServerState": state,
			"counters":        map[string]any{k.fleet.Counter: map[string]any{"minAvailable": int64(1)}},
		}
	}
	// 1. an Allocated pod with a free slot; 2. a Ready one. The refill
	// loop asks for Ready only (req.ReadyOnly): a pod not in its pool yet.
	selectors := []any{selector(stateAllocated), selector(stateReady)}
	if req.ReadyOnly {
		selectors = []any{selector(stateReady)}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": GameServerAllocations.GroupVersion().String(),
		"kind":       "GameServerAllocation",
		"metadata":   map[string]any{"namespace": k.fleet.Namespace},
		"spec": map[string]any{
			"selectors":  selectors,
			"scheduling": scheduling,
			"priorities": []any{map[string]any{"type": priorityType, "key": k.fleet.Counter, "order": priorityOrder}},
			"counters":   map[string]any{k.fleet.Counter: map[string]any{"action": counterAction, "amount": int64(1)}},
		},
	}}
}

// read turns a created GameServerAllocation into an Allocation.
func (k *Kubernetes) read(u *unstructured.Unstructured) (router.Allocation, error) {
	if u == nil {
		return router.Allocation{}, errors.New("agonesalloc: kubernetes: empty answer")
	}
	state, _, _ := unstructured.NestedString(u.Object, "status", "state")
	switch state {
	case StateAllocated:
	case StateUnAllocated, StateContention:
		return router.Allocation{}, fmt.Errorf("agonesalloc: kubernetes: %s: %w", state, router.ErrAllocRetry)
	default:
		return router.Allocation{}, fmt.Errorf("agonesalloc: kubernetes: unexpected status.state %q", state)
	}
	name, _, _ := unstructured.NestedString(u.Object, "status", "gameServerName")
	addr, _, _ := unstructured.NestedString(u.Object, "status", "address")
	if name == "" || addr == "" {
		return router.Allocation{}, fmt.Errorf("agonesalloc: kubernetes: Allocated without gameServerName or address (%q, %q)", name, addr)
	}
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "ports")
	ports := make([]port, 0, len(raw))
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		n, _ := m["name"].(string)
		ports = append(ports, port{Name: n, Port: number(m["port"])})
	}
	p, err := media(ports, k.fleet.PortName)
	if err != nil {
		return router.Allocation{}, fmt.Errorf("%w (GameServer %s)", err, name)
	}
	return router.Allocation{GameServer: name, Address: addr, Port: p}, nil
}

// number reads a JSON number as unstructured decoding leaves it.
func number(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// kubeErr classifies a failed create.
func kubeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("agonesalloc: kubernetes: %w", err)
	}
	var status apierrors.APIStatus
	switch {
	case !errors.As(err, &status):
		// No answer from the API server: connection, TLS, DNS.
		return fmt.Errorf("agonesalloc: kubernetes: %w: %w", router.ErrAllocatorDown, err)
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return fmt.Errorf("agonesalloc: kubernetes: credentials refused (RBAC: create gameserverallocations): %w: %w", router.ErrAllocatorDown, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("agonesalloc: kubernetes: gameserverallocations not served (Agones installed? namespace right?): %w: %w", router.ErrAllocatorDown, err)
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return fmt.Errorf("agonesalloc: kubernetes: %w: %w", router.ErrAllocatorDown, err)
	case apierrors.IsTooManyRequests(err):
		// API Priority and Fairness shedding load: later.
		return fmt.Errorf("agonesalloc: kubernetes: %w: %w", router.ErrAllocRetry, err)
	}
	return fmt.Errorf("agonesalloc: kubernetes: %w", err)
}
