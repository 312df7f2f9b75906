package ctest

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/sessionmgr"
)

// TestIPv6 runs a vox server on the IPv6 loopback: the admission's
// media.address is "::1", which the C client resolves and uses (and a Go
// client in the same session hears it). Skipped where the machine has no
// IPv6 loopback.
func TestIPv6(t *testing.T) {
	voxc, _ := build(t)
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	m, err := sessionmgr.New(sessionmgr.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netio.Listen(netio.Config{Addr: "[::1]:0", Shards: 1}, m.NewHandler, netio.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := m.Start(srv); err != nil {
		t.Fatal(err)
	}
	ad, err := admin.New(admin.Config{Token: testToken, Logger: quiet}, m)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ad.Handler())
	t.Cleanup(hs.Close)
	a, err := client.NewAPI(hs.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cadm, err := a.Admit(ctx, "v6", api.AdmitRequest{ParticipantID: "c6"})
	if err != nil {
		t.Fatal(err)
	}
	gadm, err := a.Admit(ctx, "v6", api.AdmitRequest{ParticipantID: "g6", DisplayName: "Go over v6"})
	if err != nil {
		t.Fatal(err)
	}
	if cadm.Media.Address != "::1" {
		t.Fatalf("media address %q, want ::1", cadm.Media.Address)
	}
	gp, err := client.Join(ctx, gadm, client.Options{RTCPInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer gp.Close()
	c := startC(t, voxc, "c6", cadm, 440)
	c.wait("LOCAL on IPv6", 5*time.Second, prefixed("LOCAL [::1]:"))

	// The Go client sends RTCP (latched, it receives) and some frames.
	frames := [][]byte{{0xF8, 0xFF, 0xFE}}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = gp.Send(frames[0])
			}
		}
	}()
	c.wait("the Go client named", 10*time.Second, prefixed(fmt.Sprintf("ROSTER %d g6 Go over v6", gadm.SSRC)))
	deadline := time.Now().Add(20 * time.Second)
	for c.heard(gadm.SSRC) < 20 || gp.ReceivedFrom(cadm.SSRC) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("over IPv6: C heard %d, Go heard %d", c.heard(gadm.SSRC), gp.ReceivedFrom(cadm.SSRC))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sp, ok := gp.Speaker(cadm.SSRC); !ok || sp.ParticipantID != "c6" {
		t.Fatalf("the Go client's roster: %+v", gp.Roster())
	}
	if st := c.finish(); st["auth_failures"] != 0 || st["received"] < 20 {
		t.Fatalf("C stats %v", st)
	}
}
