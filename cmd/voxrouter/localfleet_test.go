package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/router"
)

// TestLocalFleet runs voxrouter --local-fleet 2 in-process: it prints how
// to admit, the pool fills from the simulated Agones, a participant is
// admitted on an Allocated pod of the fleet, and it stops with exit 0.
func TestLocalFleet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *router.Server, 1)
	exit := make(chan int, 1)
	var logs syncBuffer
	go func() {
		exit <- run(ctx, []string{"--addr", "127.0.0.1:0", "--log-format", "json", "--local-fleet", "2",
			"--local-batch-wait", "50ms", "--local-start-delay", "100ms"}, noEnv, &logs, ready)
	}()
	var srv *router.Server
	select {
	case srv = <-ready:
	case code := <-exit:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	base := "http://" + srv.Addr()
	c, _ := client.NewAPI(base, "")
	var adm api.RouterAdmission
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := c.Do(ctx, http.MethodPost, "/v1/sessions/team-red/participants", api.AdmitRequest{ParticipantID: "alice"}, &adm)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no admission: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(adm.Pod, "vox-") || adm.Media.Port == 0 {
		t.Fatalf("admission %+v", adm)
	}
	var st api.RouterStatus
	if _, err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &st); err != nil || st.Pool == nil || st.Pool.Allocator != "simulated" {
		t.Fatalf("status %+v %v", st, err)
	}
	if out := logs.String(); !strings.Contains(out, "-XPOST "+base+"/v1/sessions/team-red/participants") {
		t.Fatalf("no usage line:\n%s", out)
	}
	cancel()
	if code := <-exit; code != exitOK {
		t.Fatalf("exit %d", code)
	}
}
