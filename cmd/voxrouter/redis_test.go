package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/testvoxd"
	"github.com/voxfleet/vox/podreport"
	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/router/redistest"
)

// TestMainRedis runs voxrouter's main with --redis (VOX_REDIS): a pod reports, a member is admitted; with Redis gone a
// new session is answered 503 store_unavailable at once while a member of
// a known session still joins its pod; Redis back (empty), the pod's
// reports map its session again and new sessions are placed.
func TestMainRedis(t *testing.T) {
	rs := redistest.Start(t)
	pod := testvoxd.StartWith(t, testvoxd.Options{Token: podToken})
	env := map[string]string{"VOX_TOKEN": apiToken, "VOX_REPORT_TOKEN": reportToken, "VOX_POD_TOKEN": podToken,
		"VOX_REDIS": rs.Addr()}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *router.Server, 1)
	exit := make(chan int, 1)
	var logs syncBuffer
	go func() {
		exit <- run(ctx, []string{"--addr", "127.0.0.1:0", "--log-format", "json", "--redis-prefix", "{main}:",
			"--stale-after", "1s"}, lookup, &logs, ready)
	}()
	var srv *router.Server
	select {
	case srv = <-ready:
	case code := <-exit:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	base := "http://" + srv.Addr()
	rep, err := podreport.New(podreport.Config{RouterURL: base, Token: reportToken, Name: "pod-1",
		AdminURL: pod.AdminURL, Source: podreport.FromManager(pod.Manager, nil), Interval: 20 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopReports := context.WithCancel(ctx)
	defer stopReports()
	go rep.Run(rctx)
	backend, _ := client.NewAPI(base, apiToken)
	admit := func(session, pid string) (api.RouterAdmission, error) {
		return backend.AdmitRouted(ctx, session, api.AdmitRequest{ParticipantID: pid}, "")
	}
	// eventually admits, while the new Redis waits for the reports.
	eventually := func(session, pid string) api.RouterAdmission {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			a, err := admit(session, pid)
			if err == nil {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("admit %s/%s: %v\n%s", session, pid, err, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if a := eventually("lobby", "p1"); a.Pod != "pod-1" {
		t.Fatalf("admission: %+v", a)
	}
	rs.Kill()
	start := time.Now()
	_, err = admit("fresh", "p1")
	if ae, ok := errors.AsType[*client.APIError](err); !ok || ae.Status != 503 || ae.Code != api.CodeStoreUnavailable ||
		ae.RetryAfter == 0 || !errors.Is(err, api.ErrStoreUnavailable) {
		t.Fatalf("a new session without Redis: %v", err)
	}
	if a, err := admit("lobby", "p2"); err != nil || a.Pod != "pod-1" {
		t.Fatalf("a known session without Redis: %+v %v", a, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("answers without Redis took %v", d)
	}
	rs.Restart()
	eventually("fresh", "p1")
	w, err := backend.WhereIs(ctx, "lobby")
	if err != nil || w.Pod != "pod-1" {
		t.Fatalf("lobby after the restart: %+v %v", w, err)
	}
	if m, _ := pod.Manager.Members("lobby"); len(m) != 2 {
		t.Fatalf("lobby's members: %v", m)
	}
	stopReports()
	cancel()
	waitExit(t, exit, &logs)
}
