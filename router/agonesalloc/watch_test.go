package agonesalloc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/router"
)

func gameServer(name, fleet, state string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "agones.dev/v1",
		"kind":       "GameServer",
		"metadata": map[string]any{"name": name, "namespace": "voice",
			"labels": map[string]any{FleetLabel: fleet}},
		"status": map[string]any{"state": state, "address": "203.0.113.7"},
	}}
	return u
}

// events collects a watch's events.
type events struct {
	mu  sync.Mutex
	evs []router.GameServerEvent
}

func (e *events) add(ev router.GameServerEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// wait returns once an event satisfies ok, or fails the test.
func (e *events) wait(t *testing.T, what string, ok func(router.GameServerEvent) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		found := slices.ContainsFunc(e.evs, ok)
		e.mu.Unlock()
		if found {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t.Fatalf("no event for %s; got %+v", what, e.evs)
}

// watching waits until the informer's watch is registered with the fake
// (the fake drops what changes between its list and its watch).
func watching(t *testing.T, client *dynfake.FakeDynamicClient, w *Watch) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if w.Synced() && slices.ContainsFunc(client.Actions(), func(a k8stesting.Action) bool {
			return a.GetVerb() == "watch" && a.GetResource() == GameServers
		}) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, a := range client.Actions() {
		t.Logf("%s %s %+v", a.GetVerb(), a.GetResource(), a)
	}
	t.Fatalf("the watch never started (synced %v, errors %d)", w.Synced(), w.Errors())
}

// TestWatch: the Fleet's GameServers (label selector, namespace) reach
// OnEvent: the initial list, a state change, a deletion timestamp, a
// deletion. The router then takes a deleted or Shutdown one out of
// placement.
func TestWatch(t *testing.T) {
	client := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{GameServers: "GameServerList"},
		gameServer("vox-a", "vox", "Allocated"), gameServer("vox-b", "vox", "Ready"), gameServer("oth-x", "other", "Ready"))
	var got events
	w, err := NewWatch(WatchConfig{Client: client, Fleet: Fleet{Name: "vox", Namespace: "voice"}, OnEvent: got.add,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	watching(t, client, w)

	got.wait(t, "vox-a listed", func(ev router.GameServerEvent) bool { return ev.Name == "vox-a" && ev.State == "Allocated" })
	got.wait(t, "vox-b listed", func(ev router.GameServerEvent) bool { return ev.Name == "vox-b" && ev.State == "Ready" })
	got.mu.Lock()
	if slices.ContainsFunc(got.evs, func(ev router.GameServerEvent) bool { return ev.Name == "oth-x" }) {
		t.Error("another Fleet's GameServer was listed")
	}
	got.mu.Unlock()
	for _, a := range client.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok {
			if sel := l.GetListRestrictions().Labels.String(); sel != "agones.dev/fleet=vox" || a.GetNamespace() != "voice" {
				t.Errorf("list in %q with selector %q", a.GetNamespace(), sel)
			}
		}
		if wa, ok := a.(k8stesting.WatchAction); ok {
			if sel := wa.GetWatchRestrictions().Labels.String(); sel != "agones.dev/fleet=vox" {
				t.Errorf("watch with selector %q", sel)
			}
		}
	}

	gsr := client.Resource(GameServers).Namespace("voice")
	b := gameServer("vox-b", "vox", "Shutdown")
	if _, err := gsr.Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "vox-b Shutdown", func(ev router.GameServerEvent) bool { return ev.Name == "vox-b" && ev.State == "Shutdown" })
	a := gameServer("vox-a", "vox", "Allocated")
	now := metav1.Now()
	a.SetDeletionTimestamp(&now)
	if _, err := gsr.Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "vox-a deleting", func(ev router.GameServerEvent) bool { return ev.Name == "vox-a" && ev.Deleting && !ev.Deleted })
	if err := gsr.Delete(ctx, "vox-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "vox-a deleted", func(ev router.GameServerEvent) bool { return ev.Name == "vox-a" && ev.Deleted })
	if w.Errors() != 0 {
		t.Errorf("%d watch errors", w.Errors())
	}
}

// TestEventOf: a deletion the watch missed (a tombstone) still names the
// GameServer.
func TestEventOf(t *testing.T) {
	ev, ok := eventOf(tombstone("voice/vox-z", nil), true)
	if !ok || ev.Name != "vox-z" || !ev.Deleted {
		t.Errorf("bare tombstone: %+v %v", ev, ok)
	}
	ev, ok = eventOf(tombstone("voice/vox-y", gameServer("vox-y", "vox", "Allocated")), true)
	if !ok || ev.Name != "vox-y" || !ev.Deleted || ev.State != "Allocated" {
		t.Errorf("tombstone with its object: %+v %v", ev, ok)
	}
	if _, ok := eventOf("junk", false); ok {
		t.Error("junk made an event")
	}
}

func tombstone(key string, obj any) cache.DeletedFinalStateUnknown {
	return cache.DeletedFinalStateUnknown{Key: key, Obj: obj}
}

// TestWatchRouter: through the watch, a GameServer Shutdown or deleted
// leaves the router's placement while its pod still reports itself
// accepting.
func TestWatchRouter(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := router.New(router.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, n := range []string{"vox-a", "vox-b", "vox-c"} {
		if err := r.Report(ctx, api.PodReport{Name: n, Instance: "i", Seq: 1, AdminURL: "http://127.0.0.1:1",
			Limits: api.Limits{MaxSessions: 10, MaxParticipants: 10}, Accepting: true, State: api.StateAccepting}); err != nil {
			t.Fatal(err)
		}
	}
	client := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{GameServers: "GameServerList"},
		gameServer("vox-a", "vox", "Allocated"), gameServer("vox-b", "vox", "Allocated"), gameServer("vox-c", "vox", "Shutdown"))
	w, err := NewWatch(WatchConfig{Client: client, Fleet: Fleet{Name: "vox", Namespace: "voice"}, OnEvent: r.ObserveGameServer, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	watching(t, client, w)
	placeable := func() []string {
		list, err := r.Pods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range list.Pods {
			if p.Placeable {
				out = append(out, p.Name)
			}
		}
		return out
	}
	until := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Equal(placeable(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("placeable %v, want %v", placeable(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	until("vox-a", "vox-b") // vox-c was Shutdown when listed
	if err := client.Resource(GameServers).Namespace("voice").Delete(ctx, "vox-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	until("vox-b")
}

// TestWatchOutage: a failing Kubernetes API is logged once, counted, and
// its return logged; the GameServers then arrive.
func TestWatchOutage(t *testing.T) {
	client := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{GameServers: "GameServerList"}, gameServer("vox-a", "vox", "Shutdown"))
	var failed atomic.Bool
	client.PrependReactor("list", "gameservers", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failed.CompareAndSwap(false, true) {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	var logs syncBuffer
	var got events
	w, err := NewWatch(WatchConfig{Client: client, Fleet: Fleet{Name: "vox", Namespace: "voice"}, OnEvent: got.add,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	got.wait(t, "vox-a after the outage", func(ev router.GameServerEvent) bool { return ev.Name == "vox-a" && ev.State == "Shutdown" })
	if w.Errors() != 1 || w.Down() {
		t.Errorf("errors %d, down %v", w.Errors(), w.Down())
	}
	for _, want := range []string{"GameServer watch failing", "GameServer watch reconnected"} {
		if strings.Count(logs.String(), want) != 1 {
			t.Errorf("log %q not once in:\n%s", want, logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
