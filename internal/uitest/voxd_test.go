package uitest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

const voxdToken = "ui-test-voxd"

// freePort finds a loopback port free for network ("tcp" or "udp").
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startVoxd builds cmd/voxd and runs it on loopback, reporting to
// routerURL; answers its admin base URL and media address.
func startVoxd(t *testing.T, routerURL string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "voxd")
	build := exec.Command("go", "build", "-o", bin, "github.com/voxfleet/vox/cmd/voxd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build voxd: %v\n%s", err, out)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	media := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp"))
	cmd := exec.Command(bin, "--admin-addr", admin, "--udp-addr", media, "--shards", "1",
		"--join-timeout", "60s", "--router", routerURL, "--pod-name", "voxd-ui", "--pool", "edge")
	cmd.Env = append(os.Environ(), "VOX_ADMIN_TOKEN="+voxdToken, "VOX_ROUTER_TOKEN="+reportToken, "VOX_AGONES=off")
	log, err := os.Create(filepath.Join(dir, "voxd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("voxd's log:\n%s", b)
		}
	})
	base := "http://" + admin
	waitFor(t, 15*time.Second, "voxd's /readyz", func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return base, media
}

// flood sends junk datagrams (not RTP) to addr, about 200 per second,
// until stop is called.
func flood(t *testing.T, addr string) (stop func()) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		junk := []byte("this is not an RTP packet at all")
		for i := 0; i < 60*100; i++ { // at most a minute
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_, _ = c.Write(junk)
			_, _ = c.Write(junk)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestPodPage: voxd's page shows the pod's live figures as /v1/status
// has them (sessions, packets in per second, drops by reason), what it
// reported to the router, and a drain's progress until it is drained.
func TestPodPage(t *testing.T) {
	chrome := needChrome(t)
	routerURL := startRouter(t, 0)
	base, media := startVoxd(t, routerURL)
	for i := range 3 {
		var a api.Admission
		if code := doJSON(t, http.MethodPost, base, voxdToken, "/v1/sessions/room-1/participants",
			api.AdmitRequest{ParticipantID: fmt.Sprintf("p%d", i)}, &a); code != http.StatusCreated {
			t.Fatalf("admit: HTTP %d", code)
		}
	}
	stopFlood := flood(t, media)
	ctx := browser(t, chrome, 2*time.Minute)
	openPage(t, ctx, base, voxdToken)

	waitFor(t, 10*time.Second, "packets in per second on the page", func() bool {
		v, ok := number(text(t, ctx, "#pd-rx-pps"))
		return ok && v > 50
	})
	if got := text(t, ctx, "#pd-sessions"); !strings.HasPrefix(got, "1 / ") {
		t.Errorf("sessions on the page: %q", got)
	}
	if got := text(t, ctx, "#pd-participants"); !strings.HasPrefix(got, "3 / ") {
		t.Errorf("participants on the page: %q", got)
	}
	waitFor(t, 10*time.Second, "the last report to the router on the page", func() bool {
		got := text(t, ctx, "#agones")
		return strings.Contains(got, routerURL) && strings.Contains(got, "Last report built") && strings.Contains(got, "edge")
	})
	screenshot(t, ctx, "voxd")
	stopFlood()

	// The counters on the page are /v1/status's once the traffic stopped.
	drops := map[string]func(*api.Counters) uint64{
		"#pd-rx-total":            func(c *api.Counters) uint64 { return c.RxPackets },
		"#drop-drop_not_rtp":      func(c *api.Counters) uint64 { return c.DropNotRTP },
		"#drop-drop_too_short":    func(c *api.Counters) uint64 { return c.DropTooShort },
		"#drop-drop_unknown_ssrc": func(c *api.Counters) uint64 { return c.DropUnknownSSRC },
		"#drop-kernel_drops":      func(c *api.Counters) uint64 { return c.KernelDrops },
	}
	var st api.Status
	waitFor(t, 10*time.Second, "the page's counters to be /v1/status's", func() bool {
		getJSON(t, base, voxdToken, "/v1/status", &st)
		n := polls(t, ctx)
		waitFor(t, 5*time.Second, "a page refresh", func() bool { return polls(t, ctx) >= n+2 })
		for id, get := range drops {
			if v, ok := number(text(t, ctx, id)); !ok || uint64(v) != get(&st.Totals) {
				t.Logf("%s: page %q, status %d", id, text(t, ctx, id), get(&st.Totals))
				return false
			}
		}
		return true
	})
	if st.Totals.RxPackets == 0 {
		t.Fatal("voxd received nothing")
	}

	// A drain: its phase moves on screen until drained (the admitted
	// participants never sent a packet: nobody to notify, the deadline
	// removes them).
	if code := doJSON(t, http.MethodPost, base, voxdToken, "/v1/drain",
		map[string]any{"grace": "1s", "rate": 10, "deadline": "5s"}, nil); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("drain: HTTP %d", code)
	}
	seen := map[string]bool{}
	waitFor(t, 30*time.Second, "the page to show the pod drained", func() bool {
		p := text(t, ctx, "#dr-phase")
		seen[p] = true
		return strings.HasPrefix(p, api.DrainDrained)
	})
	if len(seen) < 2 {
		t.Errorf("the drain's progress was not seen on the page: %q", keys(seen))
	}
	if got := text(t, ctx, "#pd-state"); got != "drained" && got != "draining" {
		t.Errorf("state after the drain: %q", got)
	}
	t.Logf("drain phases seen on the page: %q", keys(seen))
}
