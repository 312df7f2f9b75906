package agonesalloc

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeGS is a GameServer of the fake Agones.
type fakeGS struct {
	name, state     string
	labels          map[string]string
	count, capacity int64
	address         string
	port            int64
}

// fakeAgones answers GameServerAllocation creates the way Agones 1.56
// does (../shared/design/agones-allocation.md): HTTP 201 in every case,
// status.state Allocated with gameServerName, address, ports and
// counters; UnAllocated when nothing matches; Contention when told to.
// Selection: selectors in order; within one, Allocated before Ready
// (Packed), then the least free capacity (priorities Counter Ascending),
// then the name.
type fakeAgones struct {
	mu         sync.Mutex
	gs         []*fakeGS
	contention int                          // the next n creates answer Contention
	requests   []*unstructured.Unstructured // what was created
	err        error                        // when set, every create fails with it
}

func newFakeClient() *dynfake.FakeDynamicClient {
	return dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		GameServers:           "GameServerList",
		GameServerAllocations: "GameServerAllocationList",
	})
}

// install makes f answer client's GameServerAllocation creates.
func (f *fakeAgones) install(client *dynfake.FakeDynamicClient) {
	client.PrependReactor("create", "gameserverallocations", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured).DeepCopy()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, u.DeepCopy())
		if f.err != nil {
			return true, nil, f.err
		}
		if f.contention > 0 {
			f.contention--
			u.Object["status"] = map[string]any{"state": StateContention}
			return true, u, nil
		}
		g := f.pick(u)
		if g == nil {
			u.Object["status"] = map[string]any{"state": StateUnAllocated}
			return true, u, nil
		}
		amount, _, _ := unstructured.NestedInt64(u.Object, "spec", "counters", DefaultCounter, "amount")
		g.count += amount
		g.state = StateAllocated
		labels := map[string]any{}
		for k, v := range g.labels {
			labels[k] = v
		}
		u.Object["status"] = map[string]any{
			"state":          StateAllocated,
			"gameServerName": g.name,
			"nodeName":       "node-0",
			"address":        g.address,
			"addresses": []any{
				map[string]any{"type": "InternalIP", "address": g.address},
				map[string]any{"type": "PodIP", "address": "10.0.1.3"},
			},
			"ports":    []any{map[string]any{"name": "metrics", "port": int64(9000)}, map[string]any{"name": "media", "port": g.port}},
			"counters": map[string]any{DefaultCounter: map[string]any{"count": g.count, "capacity": g.capacity}},
			"metadata": map[string]any{"labels": labels},
			"source":   "local",
		}
		return true, u, nil
	})
}

// pick chooses the GameServer the allocation takes (nil: none).
func (f *fakeAgones) pick(u *unstructured.Unstructured) *fakeGS {
	selectors, _, _ := unstructured.NestedSlice(u.Object, "spec", "selectors")
	for _, s := range selectors {
		sel := s.(map[string]any)
		want, _, _ := unstructured.NestedStringMap(sel, "matchLabels")
		state, _, _ := unstructured.NestedString(sel, "gameServerState")
		minAvail, _, _ := unstructured.NestedInt64(sel, "counters", DefaultCounter, "minAvailable")
		var match []*fakeGS
		for _, g := range f.gs {
			ok := g.state == state && g.capacity-g.count >= minAvail
			for k, v := range want {
				ok = ok && g.labels[k] == v
			}
			if ok {
				match = append(match, g)
			}
		}
		if len(match) == 0 {
			continue
		}
		return slices.MinFunc(match, func(a, b *fakeGS) int {
			if c := (a.capacity - a.count) - (b.capacity - b.count); c != 0 {
				return int(c)
			}
			return cmpString(a.name, b.name)
		})
	}
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// add adds n GameServers of fleet in state with the given count (of 10).
func (f *fakeAgones) add(fleet, state string, count int64, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		f.gs = append(f.gs, &fakeGS{name: n, state: state, count: count, capacity: 10,
			labels:  map[string]string{FleetLabel: fleet, "agones.dev/sdk-vox-accepting": "true"},
			address: "203.0.113.7", port: int64(7000 + len(f.gs))})
	}
}

func (f *fakeAgones) get(name string) fakeGS {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.gs {
		if g.name == name {
			c := *g
			c.labels = maps.Clone(g.labels)
			return c
		}
	}
	panic(fmt.Sprintf("no GameServer %s", name))
}
