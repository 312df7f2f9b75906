package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/router"
)

// kubeconfig writes a kubeconfig whose API server is server, namespace voice.
func kubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: ` + server + `
contexts:
- name: c
  context:
    cluster: c
    user: u
    namespace: voice
current-context: c
users:
- name: u
  user:
    token: t
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestAllocatorFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"--allocator", "agones"},
		{"--allocator", "allocator-service"}, // no URL, cert, key
		{"--allocator", "allocator-service", "--allocator-url", "https://a", "--allocator-cert", "c"},
		{"--allocator", "allocator-service", "--allocator-url", "http://a", "--allocator-cert", "/nonexistent", "--allocator-key", "/nonexistent"},
		{"--allocator", "kubernetes", "--fleet", ""},
		{"--allocator", "kubernetes", "--kubeconfig", "/nonexistent"},
	} {
		out.Reset()
		if code := run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, args...), noEnv, &out, nil); code != exitUsage {
			t.Errorf("%q: exit %d (%s)", args, code, out.String())
		}
	}

	// --allocator kubernetes with a kubeconfig: its namespace, the Fleet.
	a := agonesFlags{allocator: allocKubernetes, fleet: "vox", kubeconfig: kubeconfig(t, "http://"+deadAddr(t)), watch: true}
	if err := a.check(); err != nil || a.namespace != "voice" {
		t.Fatalf("check: %v, namespace %q", err, a.namespace)
	}
	alloc, kube, err := a.build(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || alloc == nil || alloc.Name() != "kubernetes" || kube == nil {
		t.Fatalf("build: %v, %v, %v", alloc, kube, err)
	}
	// none: static mode, nothing built.
	a = agonesFlags{allocator: allocNone}
	if err := a.check(); err != nil {
		t.Fatal(err)
	}
	if alloc, kube, err := a.build(nil); alloc != nil || kube != nil || err != nil {
		t.Fatalf("none: %v, %v, %v", alloc, kube, err)
	}
}

// TestKubernetesAPIDown: with the Kubernetes API unreachable the router
// starts, serves, says the watch is failing, and stops cleanly.
func TestKubernetesAPIDown(t *testing.T) {
	env := map[string]string{"VOX_ALLOCATOR": "kubernetes", "VOX_KUBECONFIG": kubeconfig(t, "http://"+deadAddr(t))}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *router.Server, 1)
	exit := make(chan int, 1)
	var logs syncBuffer
	go func() {
		exit <- run(ctx, []string{"--addr", "127.0.0.1:0", "--log-format", "json"}, lookup, &logs, ready)
	}()
	var srv *router.Server
	select {
	case srv = <-ready:
	case code := <-exit:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	if body, err := getText("http://" + srv.Addr() + "/healthz"); err != nil {
		t.Fatalf("healthz: %v %s", err, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "GameServer watch failing") {
		if time.Now().After(deadline) {
			t.Fatalf("no watch failure logged: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"allocator":"kubernetes"`) || !strings.Contains(logs.String(), `"namespace":"voice"`) {
		t.Errorf("start line: %s", logs.String())
	}
	cancel()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
}
