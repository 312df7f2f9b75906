package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/router"
)

// TestReportsToRouter: voxd with --router reports itself to a real router
// (name, pool, admin URL of the bound address), and the router admits a
// participant on it through that URL.
func TestReportsToRouter(t *testing.T) {
	r, err := router.New(router.Config{PodToken: "s3cret", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := router.NewServer(router.ServerConfig{Addr: "127.0.0.1:0", Token: "api", ReportToken: "rep"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	defer rs.Shutdown(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"VOX_UDP_ADDR": "127.0.0.1:0", "VOX_SHARDS": "1", "VOX_ADMIN_ADDR": "127.0.0.1:0",
			"VOX_ADMIN_TOKEN": "s3cret", "VOX_ROUTER": "http://" + rs.Addr(), "VOX_ROUTER_TOKEN": "rep",
			"VOX_POD_NAME": "voxd-1", "VOX_POOL": "blue"}[k]
		return v, ok
	}
	logs := &syncBuffer{}
	ready := make(chan servers, 1)
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--log-format", "json"}, env, logs, ready) }()
	var s servers
	select {
	case s = <-ready:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	backend, _ := client.NewAPI("http://"+rs.Addr(), "api")
	deadline := time.Now().Add(10 * time.Second)
	for {
		pods, err := backend.Pods(ctx)
		if err == nil && len(pods.Pods) == 1 {
			p := pods.Pods[0]
			if p.Name != "voxd-1" || p.Pool != "blue" || p.AdminURL != "http://"+s.admin.Addr() || !p.Placeable {
				t.Fatalf("pod: %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report: %v %+v\n%s", err, pods, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // voxd reports every second
	}
	adm, err := backend.AdmitRouted(ctx, "lobby", api.AdmitRequest{ParticipantID: "a"}, "")
	if err != nil || adm.Pod != "voxd-1" {
		t.Fatalf("admission: %+v %v", adm, err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(logs.String(), "reporting to the router") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}
