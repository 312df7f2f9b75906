package agonesalloc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/voxfleet/vox/router"
)

var accepting = router.AllocationRequest{Pool: "vox", MatchLabels: map[string]string{"agones.dev/sdk-vox-accepting": "true"}}

func newKube(t *testing.T, client dynamic.Interface) *Kubernetes {
	t.Helper()
	k, err := NewKubernetes(client, Fleet{Name: "vox", Namespace: "voice"})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKubernetesAllocate: Allocated pods with room first (the fullest),
// then Ready ones; never another Fleet's, a full or a refusing pod; the
// answer's media port by name; the request is allocation.yaml's.
func TestKubernetesAllocate(t *testing.T) {
	client := newFakeClient()
	f := &fakeAgones{}
	f.install(client)
	f.add("vox", "Ready", 0, "vox-a")
	f.add("vox", "Allocated", 9, "vox-b")
	f.add("vox", "Allocated", 10, "vox-c")  // full
	f.add("other", "Allocated", 5, "oth-x") // another Fleet
	f.add("vox", "Allocated", 1, "vox-d")
	f.mu.Lock()
	f.gs[4].labels["agones.dev/sdk-vox-accepting"] = "false" // refusing
	f.mu.Unlock()
	k := newKube(t, client)
	ctx := context.Background()

	for i, want := range []string{"vox-b", "vox-a", "vox-a"} {
		a, err := k.Allocate(ctx, accepting)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if a.GameServer != want || a.Address != "203.0.113.7" || a.Port != int(f.get(want).port) {
			t.Fatalf("allocation %d: %+v, want %s at 203.0.113.7:%d", i, a, want, f.get(want).port)
		}
	}
	if g := f.get("vox-b"); g.count != 10 || g.state != "Allocated" {
		t.Errorf("vox-b after its allocation: %+v", g)
	}
	if g := f.get("vox-a"); g.count != 2 || g.state != "Allocated" {
		t.Errorf("vox-a after two allocations: %+v", g)
	}

	// The request: deploy/agones/allocation.yaml with matchLabels only.
	u := f.requests[0]
	if u.GetAPIVersion() != "allocation.agones.dev/v1" || u.GetKind() != "GameServerAllocation" || u.GetNamespace() != "voice" || u.GetName() != "" {
		t.Errorf("request %s %s %s/%s", u.GetAPIVersion(), u.GetKind(), u.GetNamespace(), u.GetName())
	}
	sels, _, _ := unstructured.NestedSlice(u.Object, "spec", "selectors")
	if len(sels) != 2 {
		t.Fatalf("%d selectors, want 2", len(sels))
	}
	for i, state := range []string{"Allocated", "Ready"} {
		s := sels[i].(map[string]any)
		labels, _, _ := unstructured.NestedStringMap(s, "matchLabels")
		got, _, _ := unstructured.NestedString(s, "gameServerState")
		minAvail, _, _ := unstructured.NestedInt64(s, "counters", "sessions", "minAvailable")
		if got != state || minAvail != 1 || len(labels) != 2 || labels[FleetLabel] != "vox" || labels["agones.dev/sdk-vox-accepting"] != "true" {
			t.Errorf("selector %d: %v", i, s)
		}
		if _, ok := s["matchExpressions"]; ok {
			t.Errorf("selector %d has matchExpressions", i)
		}
	}
	for path, want := range map[string]string{"scheduling": "Packed"} {
		if got, _, _ := unstructured.NestedString(u.Object, "spec", path); got != want {
			t.Errorf("spec.%s = %q, want %q", path, got, want)
		}
	}
	prio, _, _ := unstructured.NestedSlice(u.Object, "spec", "priorities")
	if len(prio) != 1 || prio[0].(map[string]any)["type"] != "Counter" || prio[0].(map[string]any)["key"] != "sessions" ||
		prio[0].(map[string]any)["order"] != "Ascending" {
		t.Errorf("priorities %v", prio)
	}
	action, _, _ := unstructured.NestedString(u.Object, "spec", "counters", "sessions", "action")
	amount, _, _ := unstructured.NestedInt64(u.Object, "spec", "counters", "sessions", "amount")
	if action != "Increment" || amount != 1 {
		t.Errorf("counters: %s %d", action, amount)
	}
	// A request naming another Fleet still asks for this one.
	other := k.Request(router.AllocationRequest{MatchLabels: map[string]string{FleetLabel: "other"}})
	s0, _, _ := unstructured.NestedSlice(other.Object, "spec", "selectors")
	if l, _, _ := unstructured.NestedStringMap(s0[0].(map[string]any), "matchLabels"); l[FleetLabel] != "vox" {
		t.Errorf("fleet label %q, want vox", l[FleetLabel])
	}
}

// TestKubernetesRetry: UnAllocated (nothing free) and Contention wrap
// ErrAllocRetry; the next call after contention allocates.
func TestKubernetesRetry(t *testing.T) {
	client := newFakeClient()
	f := &fakeAgones{contention: 1}
	f.install(client)
	k := newKube(t, client)
	ctx := context.Background()
	if _, err := k.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocRetry) {
		t.Fatalf("contention: %v, want ErrAllocRetry", err)
	}
	if _, err := k.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocRetry) || errors.Is(err, router.ErrAllocatorDown) {
		t.Fatalf("nothing free: %v, want ErrAllocRetry", err)
	}
	f.add("vox", "Ready", 0, "vox-a")
	if a, err := k.Allocate(ctx, accepting); err != nil || a.GameServer != "vox-a" {
		t.Fatalf("after a pod came: %+v, %v", a, err)
	}
	f.add("vox", "Allocated", 10, "vox-full") // taken by nothing
	for range 9 {
		if _, err := k.Allocate(ctx, accepting); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocRetry) {
		t.Fatalf("every pod full: %v, want ErrAllocRetry", err)
	}
}

// TestKubernetesErrors: what the API server's refusals mean.
func TestKubernetesErrors(t *testing.T) {
	gr := schema.GroupResource{Group: "allocation.agones.dev", Resource: "gameserverallocations"}
	for _, c := range []struct {
		name        string
		err         error
		down, retry bool
	}{
		{"401", apierrors.NewUnauthorized("token expired"), true, false},
		{"403", apierrors.NewForbidden(gr, "", errors.New("RBAC")), true, false},
		{"404", apierrors.NewNotFound(gr, ""), true, false},
		{"503", apierrors.NewServiceUnavailable("agones-controller down"), true, false},
		{"429", apierrors.NewTooManyRequests("APF", 1), false, true},
		{"400", apierrors.NewBadRequest("malformed"), false, false},
		{"500", apierrors.NewInternalError(errors.New("webhook")), false, false},
		{"transport", errors.New("dial tcp 10.96.0.1:443: connect: connection refused"), true, false},
	} {
		client := newFakeClient()
		f := &fakeAgones{err: c.err}
		f.install(client)
		_, err := newKube(t, client).Allocate(context.Background(), accepting)
		if err == nil || errors.Is(err, router.ErrAllocatorDown) != c.down || errors.Is(err, router.ErrAllocRetry) != c.retry {
			t.Errorf("%s: %v, want down %v retry %v", c.name, err, c.down, c.retry)
		}
	}
}

// recorded is the answer of a real Agones 1.56 control plane
// (../shared/design/agones-allocation.md), spec abridged.
const recorded = `{"kind":"GameServerAllocation","apiVersion":"allocation.agones.dev/v1","metadata":{"namespace":"voice","creationTimestamp":null},
"spec":{"multiClusterSetting":{"policySelector":{}},"required":{},"scheduling":"Packed","metadata":{}},
"status":{"state":"Allocated","gameServerName":"vox-hb25f-7n5sm","nodeName":"node-0","address":"203.0.113.7",
"addresses":[{"type":"InternalIP","address":"203.0.113.7"},{"type":"PodIP","address":"10.0.1.3"}],
"ports":[{"name":"media","port":7365}],"counters":{"sessions":{"count":1,"capacity":200}},
"metadata":{"annotations":{"agones.dev/last-allocated":"2026-12-01T23:54:10.082444505Z"},
"labels":{"agones.dev/fleet":"vox","agones.dev/sdk-vox-accepting":"true"}},"source":"local"}}`

// TestKubernetesHTTP: the real client-go path against an HTTP server
// standing in for the API server: the route and body, the recorded
// answer, a 401, an API server that is gone, a cancelled call.
func TestKubernetesHTTP(t *testing.T) {
	var answer func(w http.ResponseWriter)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/allocation.agones.dev/v1/namespaces/voice/gameserverallocations" {
			http.Error(w, r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["kind"] != "GameServerAllocation" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		answer(w)
	}))
	defer ts.Close()
	client, err := dynamic.NewForConfig(&rest.Config{Host: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	k := newKube(t, client)
	ctx := context.Background()

	answer = func(w http.ResponseWriter) { w.WriteHeader(http.StatusCreated); _, _ = io.WriteString(w, recorded) }
	a, err := k.Allocate(ctx, accepting)
	if err != nil || a.GameServer != "vox-hb25f-7n5sm" || a.Address != "203.0.113.7" || a.Port != 7365 || a.Took <= 0 {
		t.Fatalf("recorded answer: %+v, %v", a, err)
	}
	answer = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"kind":"GameServerAllocation","apiVersion":"allocation.agones.dev/v1","metadata":{},"spec":{},"status":{"state":"UnAllocated"}}`)
	}
	if _, err := k.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocRetry) {
		t.Fatalf("UnAllocated: %v", err)
	}
	answer = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
	}
	if _, err := k.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocatorDown) {
		t.Fatalf("401: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.Allocate(cctx, accepting); err == nil || errors.Is(err, router.ErrAllocatorDown) {
		t.Fatalf("cancelled: %v, want an error that is not ErrAllocatorDown", err)
	}
	ts.Close()
	if _, err := k.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocatorDown) {
		t.Fatalf("API server gone: %v", err)
	}
}

// TestKubernetesRequestIsAllocationYAML: the request is
// deploy/agones/allocation.yaml but for the documented difference: its
// matchExpressions (accepting NotIn ["false"]) become the request's
// matchLabels (accepting "true"), since both routes must ask the same.
func TestKubernetesRequestIsAllocationYAML(t *testing.T) {
	f, err := os.Open("../../deploy/agones/allocation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var file map[string]any
	if err := yaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&file); err != nil {
		t.Fatal(err)
	}
	sels, _, _ := unstructured.NestedSlice(file, "spec", "selectors")
	for _, s := range sels {
		sel := s.(map[string]any)
		delete(sel, "matchExpressions")
		sel["matchLabels"].(map[string]any)["agones.dev/sdk-vox-accepting"] = "true"
	}
	if err := unstructured.SetNestedSlice(file, sels, "spec", "selectors"); err != nil {
		t.Fatal(err)
	}
	file["metadata"] = map[string]any{"namespace": "voice"}
	got := newKube(t, newFakeClient()).Request(accepting).Object
	// Compare as JSON values (YAML numbers decode as int64 or float64).
	norm := func(v any) any {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var out any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if !reflect.DeepEqual(norm(got), norm(file)) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(file, "", "  ")
		t.Errorf("request\n%s\nwant (allocation.yaml with matchLabels)\n%s", g, w)
	}
}

// The refill loop asks for a Ready GameServer only (a pod not in its pool
// yet): both request shapes then carry the Ready selector alone.
func TestReadyOnlyRequests(t *testing.T) {
	k := newKube(t, newFakeClient())
	states := func(req router.AllocationRequest) []string {
		var out []string
		sels, _, _ := unstructured.NestedSlice(k.Request(req).Object, "spec", "selectors")
		for _, s := range sels {
			out = append(out, s.(map[string]any)["gameServerState"].(string))
		}
		return out
	}
	if got := states(router.AllocationRequest{}); len(got) != 2 || got[0] != "Allocated" || got[1] != "Ready" {
		t.Errorf("default selectors: %v", got)
	}
	if got := states(router.AllocationRequest{ReadyOnly: true}); len(got) != 1 || got[0] != "Ready" {
		t.Errorf("ReadyOnly selectors: %v", got)
	}
	s := &Service{fleet: k.fleet} // the request alone: no TLS needed
	if sel := s.Request(router.AllocationRequest{}).GameServerSelectors; len(sel) != 2 {
		t.Errorf("allocator service default selectors: %+v", sel)
	}
	if sel := s.Request(router.AllocationRequest{ReadyOnly: true}).GameServerSelectors; len(sel) != 1 {
		t.Errorf("allocator service ReadyOnly selectors: %+v", sel)
	}
}
