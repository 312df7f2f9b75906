package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/testvoxd"
	"github.com/voxfleet/vox/podreport"
	"github.com/voxfleet/vox/router"
)

// TestRouterCommands: pods, where and router-status against a real router
// with one real pod reporting to it.
func TestRouterCommands(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pod := testvoxd.StartWith(t, testvoxd.Options{Token: "pod"})
	r, err := router.New(router.Config{PodToken: "pod", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.ServerConfig{Addr: "127.0.0.1:0", Token: "rt", ReportToken: "rep"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	rep, err := podreport.New(podreport.Config{RouterURL: "http://" + srv.Addr(), Token: "rep", Name: "pod-1",
		AdminURL: pod.AdminURL, Source: podreport.FromManager(pod.Manager, nil), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rep.Once(ctx); err != nil {
		t.Fatal(err)
	}
	backend, _ := client.NewAPI("http://"+srv.Addr(), "rt")
	if _, err := backend.Admit(ctx, "lobby", api.AdmitRequest{ParticipantID: "a"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VOX_ADMIN_ADDR": srv.Addr(), "VOX_ADMIN_TOKEN": "rt"}
	runCtl(t, env, "pods").want(t, 0, []string{"POD", "pod-1", "default", "accepting", "yes", "0/500", "+1/+1"}, nil)
	runCtl(t, env, "where", "lobby").want(t, 0, []string{"lobby: on pod-1", "not in its last report yet"}, nil)
	_ = rep.Once(ctx)
	runCtl(t, env, "where", "lobby").want(t, 0, []string{"1 participants in its last report"}, nil)
	runCtl(t, env, "where", "nope").want(t, exitUsage, nil, []string{"session_not_found"})
	runCtl(t, env, "where").want(t, exitUsage, nil, []string{"one session id"})
	runCtl(t, env, "router-status").want(t, 0, []string{"ready:", "yes", "1 placeable", "1 ok, 0 failed"}, nil)
	res := runCtl(t, env, "--json", "pods")
	var list api.PodList
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.stdout)), &list); err != nil || len(list.Pods) != 1 || list.Pods[0].Name != "pod-1" {
		t.Fatalf("--json pods: %v %s", err, res.stdout)
	}
	// The fleet operations: a rollout's steps and a rollback, a pod drain
	// (with a grace, cancelled), drains.
	runCtl(t, env, "pools").want(t, 0, []string{"POOL", "default", "100.0000%", "static"}, nil)
	runCtl(t, env, "pool-weight", "v2", "0.0001").want(t, 0, []string{"v2: weight 0.0001", "0.0100 % of new sessions"}, nil)
	runCtl(t, env, "pool-weight", "v2", "0").want(t, 0, []string{"v2: weight 0, 0.0000 %"}, nil)
	runCtl(t, env, "pool-weight", "v2", "-1").want(t, exitUsage, nil, []string{"invalid_request"})
	runCtl(t, env, "pool-weight", "v2", "x").want(t, exitUsage, nil, []string{"a number"})
	runCtl(t, env, "pod-drain", "--grace", "1h", "pod-1").want(t, 0, []string{"pod-1: stopped (operator), 1 participants"}, nil)
	runCtl(t, env, "drains").want(t, 0, []string{"reconnect budget 100/s", "pod-1", "operator", "stopped", "1 of 1"}, nil)
	runCtl(t, env, "pod-drain", "--cancel", "pod-1").want(t, 0, []string{"pod-1: cancelled"}, nil)
	runCtl(t, env, "pod-drain", "nope").want(t, exitUsage, nil, []string{"pod_not_found"})
	runCtl(t, env, "pool-drain", "nope").want(t, exitUsage, nil, []string{"pool_not_found"})
	runCtl(t, env, "pool-drain", "--cancel", "default").want(t, exitUsage, nil, []string{"no_drain"})
}
