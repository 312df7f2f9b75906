package main

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/sessionmgr"
)

// runVoxd runs voxd in-process with env and returns its servers, an API
// client, its logs and a function that waits for its exit code.
func runVoxd(t *testing.T, env map[string]string) (servers, *client.API, *syncBuffer, chan int, context.CancelFunc) {
	t.Helper()
	base := map[string]string{"VOX_UDP_ADDR": "127.0.0.1:0", "VOX_SHARDS": "2", "VOX_ADMIN_ADDR": "127.0.0.1:0",
		"VOX_ADMIN_TOKEN": "tok", "VOX_LOG_FORMAT": "json", "VOX_HEALTH_INTERVAL": "30ms", "VOX_REPORT_INTERVAL": "60ms"}
	for k, v := range env {
		base[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := base[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan servers, 1)
	done := make(chan int, 1)
	logs := &syncBuffer{}
	go func() { done <- run(ctx, nil, lookup, logs, ready) }()
	var s servers
	select {
	case s = <-ready:
	case code := <-done:
		cancel()
		t.Fatalf("voxd exited %d:\n%s", code, logs.String())
	}
	t.Cleanup(cancel)
	api, _ := client.NewAPI("http://"+s.admin.Addr(), "tok")
	return s, api, logs, done, cancel
}

func TestAgonesLifecycleEndToEnd(t *testing.T) {
	sc := agonestest.NewSidecar()
	defer sc.Close()
	sc.DeclareCounter("sessions", 0, 200)
	s, api, logs, done, _ := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": sc.Port(),
		"VOX_MAX_SESSIONS": "50", "VOX_DRAIN_DEADLINE": "20s", "VOX_DRAIN_GRACE": "10s"})
	ctx := context.Background()
	waitUntil(t, "Ready and pinging", func() bool {
		return sc.State() == agones.StateReady && len(sc.CallsTo("POST", "/health")) >= 2
	})
	port := s.udp.LocalAddr().Port()

	// The advertised address comes from the GameServer's status.
	sc.SetAddress("203.0.113.7", []agones.Port{{Name: "media", Port: 7777}})
	waitUntil(t, "address from the watch", func() bool {
		adm, err := api.Admit(ctx, "probe", sessionmgr.AdmitRequest{})
		if err != nil {
			return false
		}
		api.DeleteSession(ctx, "probe")
		return adm.Media.Address == "203.0.113.7" && adm.Media.Port == 7777
	})
	sc.SetAddress("127.0.0.1", []agones.Port{{Name: "media", Port: int32(port)}})
	var adm sessionmgr.Admission
	waitUntil(t, "address back to loopback", func() bool {
		var err error
		adm, err = api.Admit(ctx, "room", sessionmgr.AdmitRequest{ParticipantID: "a"})
		if err == nil && adm.Media.Address != "127.0.0.1" {
			api.RemoveParticipant(ctx, "room", "a")
			return false
		}
		return err == nil
	})
	if netip.MustParseAddr(adm.Media.Address) != s.udp.LocalAddr().Addr() || adm.Media.Port != int(port) {
		t.Fatalf("admission media %+v", adm.Media)
	}
	p, err := client.Join(ctx, adm, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Send([]byte("hi"))

	// Self-reporting, and a busy pod is never left Ready.
	waitUntil(t, "labels and counter", func() bool {
		l := sc.Labels()
		c := sc.GameServer().Status.Counters["sessions"]
		return l["agones.dev/sdk-vox-sessions"] == "1" && l["agones.dev/sdk-vox-participants"] == "1" &&
			l["agones.dev/sdk-vox-accepting"] == "true" && c.Count == 1 && c.Capacity == 50
	})
	waitUntil(t, "self-allocated", func() bool { return sc.State() == agones.StateAllocated })

	// Deletion: drain, the session ends, Shutdown, exit 0.
	sc.SetDeletionTimestamp()
	waitUntil(t, "draining", func() bool {
		st, err := api.Status(ctx)
		return err == nil && st.State == sessionmgr.StateDraining
	})
	waitUntil(t, "accepting=false reported", func() bool { return sc.Labels()["agones.dev/sdk-vox-accepting"] == "false" })
	if len(sc.CallsTo("POST", "/shutdown")) != 0 {
		t.Fatal("Shutdown before the session ended")
	}
	p.Leave()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("voxd did not stop after draining:\n%s", logs.String())
	}
	if len(sc.CallsTo("POST", "/shutdown")) != 1 || !strings.Contains(logs.String(), `"cause":"drained"`) {
		t.Fatalf("no Shutdown after the drain:\n%s", logs.String())
	}
}

func TestAgonesSidecarAbsentVoiceStillWorks(t *testing.T) {
	sc := agonestest.NewSidecar()
	p := sc.Port()
	sc.Close() // AGONES_SDK_HTTP_PORT is set, nothing listens
	s, api, logs, done, cancel := runVoxd(t, map[string]string{"AGONES_SDK_HTTP_PORT": p})
	ctx := context.Background()
	var members []*client.Participant
	got := make(chan string, 4)
	for i := range 2 {
		adm, err := api.Admit(ctx, "room", sessionmgr.AdmitRequest{ParticipantID: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		m, err := client.Join(ctx, adm, client.Options{OnRTP: func(pk *client.Packet) { got <- string(pk.Payload) }})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		m.SendRTCP()
		members = append(members, m)
	}
	waitUntil(t, "latched", func() bool { return s.sessions.Status().Totals.RTCPIn == 2 })
	members[0].Send([]byte("voice without agones"))
	select {
	case pl := <-got:
		if pl != "voice without agones" {
			t.Fatalf("got %q", pl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no voice while the sidecar is absent")
	}
	// Before Ready voxd reads the GameServer (its address): that fails.
	const warning = "reading the GameServer failed"
	waitUntil(t, "warning", func() bool { return strings.Contains(logs.String(), warning) })
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(logs.String(), warning); n != 1 {
		t.Fatalf("the failure logged %d times", n)
	}
}

func TestAgonesOnModeRequiresSidecar(t *testing.T) {
	sc := agonestest.NewSidecar()
	p := sc.Port()
	sc.Close()
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"VOX_UDP_ADDR": "127.0.0.1:0", "VOX_ADMIN_ADDR": "127.0.0.1:0", "VOX_AGONES": "on",
			"AGONES_SDK_HTTP_PORT": p, "VOX_AGONES_WAIT": "300ms"}[k]
		return v, ok
	}
	logs := &syncBuffer{}
	if code := run(context.Background(), nil, lookup, logs, nil); code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(logs.String(), "did not answer") {
		t.Fatalf("unclear error:\n%s", logs.String())
	}
}

func TestAgonesSidecarOutageMidRun(t *testing.T) {
	sc := agonestest.NewSidecar()
	defer sc.Close()
	s, api, logs, _, _ := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": sc.Port()})
	waitUntil(t, "pinging", func() bool { return len(sc.CallsTo("POST", "/health")) >= 2 })
	sc.SetDown(true)
	// Longer than one call's retries (3 attempts, backoff up to 300 ms).
	time.Sleep(900 * time.Millisecond)
	if _, err := api.Admit(context.Background(), "room", sessionmgr.AdmitRequest{}); err != nil {
		t.Fatalf("admission during the outage: %v", err)
	}
	sc.SetDown(false)
	n := len(sc.CallsTo("POST", "/health"))
	waitUntil(t, "pings resume", func() bool { return len(sc.CallsTo("POST", "/health")) >= n+2 })
	waitUntil(t, "labels catch up", func() bool { return sc.Labels()["agones.dev/sdk-vox-sessions"] == "1" })
	if c := strings.Count(logs.String(), "health ping failing"); c != 1 {
		t.Fatalf("outage logged %d times", c)
	}
	_ = s
}

// TestAgonesReadyAfterAddress: a GameServer not yet on a node (Scheduled,
// no address) is not made Ready; once the watch brings the address voxd
// applies it, then calls Ready, so a first allocation never hands clients
// a wrong address.
func TestAgonesReadyAfterAddress(t *testing.T) {
	sc := agonestest.NewSidecar()
	defer sc.Close()
	sc.SetAddress("", nil)
	_, api, logs, _, _ := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": sc.Port(),
		"VOX_AGONES_ADDRESS_WAIT": "100ms"})
	waitUntil(t, "the wait logged", func() bool { return strings.Contains(logs.String(), "still not Ready") })
	if n := len(sc.CallsTo("POST", "/ready")); n != 0 || sc.State() != agones.StateScheduled {
		t.Fatalf("%d Ready calls before the GameServer had an address", n)
	}
	if len(sc.CallsTo("POST", "/health")) == 0 {
		t.Fatal("no health pings while waiting for the address")
	}
	sc.SetAddress("203.0.113.7", []agones.Port{{Name: "media", Port: 7777}})
	waitUntil(t, "Ready", func() bool { return sc.State() == agones.StateReady })
	// Admitted as soon as Ready is seen: the address is there already.
	adm, err := api.Admit(context.Background(), "first", sessionmgr.AdmitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if adm.Media.Address != "203.0.113.7" || adm.Media.Port != 7777 {
		t.Fatalf("admission media %+v right after Ready", adm.Media)
	}
}

// TestAgonesPublicAddrReadyWithoutAddress: with --public-addr voxd goes
// Ready after --agones-address-wait even if the GameServer has no address.
func TestAgonesPublicAddrReadyWithoutAddress(t *testing.T) {
	sc := agonestest.NewSidecar()
	defer sc.Close()
	sc.SetAddress("", nil)
	_, _, logs, _, _ := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": sc.Port(),
		"VOX_AGONES_ADDRESS_WAIT": "100ms", "VOX_PUBLIC_ADDR": "198.51.100.1"})
	waitUntil(t, "Ready", func() bool { return sc.State() == agones.StateReady })
	if !strings.Contains(logs.String(), "going Ready with the configured public address") {
		t.Fatalf("not logged:\n%s", logs.String())
	}
}

// TestAgonesAllocationCounter: the allocator's +1 survives voxd's reports
// while the allocation is in flight, becomes the session when it arrives,
// and an allocation whose session never arrives is taken back after
// --allocation-timeout.
func TestAgonesAllocationCounter(t *testing.T) {
	sc := agonestest.NewSidecar()
	defer sc.Close()
	sc.DeclareCounter("sessions", 0, 50)
	_, api, _, _, _ := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": sc.Port(),
		"VOX_MAX_SESSIONS": "50", "VOX_ALLOCATION_TIMEOUT": "600ms"})
	ctx := context.Background()
	count := func() int64 { return sc.GameServer().Status.Counters["sessions"].Count }
	waitUntil(t, "Ready", func() bool { return sc.State() == agones.StateReady })
	// An allocation, then its session.
	if _, err := sc.Allocate("sessions"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Admit(ctx, "s1", sessionmgr.AdmitRequest{}); err != nil {
		t.Fatal(err)
	}
	// An allocation whose session never comes.
	if _, err := sc.Allocate("sessions"); err != nil {
		t.Fatal(err)
	}
	allocated := time.Now()
	time.Sleep(200 * time.Millisecond) // three report rounds
	if c := count(); c != 2 {
		t.Fatalf("Counter %d inside the allocation timeout, want 2 (1 session + 1 in flight)", c)
	}
	waitUntil(t, "the Counter back to 1", func() bool { return count() == 1 })
	if el := time.Since(allocated); el < 600*time.Millisecond {
		t.Fatalf("the slot went after %v, before the timeout", el)
	}
	time.Sleep(200 * time.Millisecond)
	if c := count(); c != 1 {
		t.Fatalf("Counter %d, want 1", c)
	}
}
