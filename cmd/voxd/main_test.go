package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func TestHelpExplainsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, noEnv, &out, nil); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"udp-addr", "shards", "batch-size", "max-datagram", "send-queue", "tick",
		"recv-buffer", "send-buffer", "no-steering", "log-format", "log-level", "admin-addr", "admin-token",
		"admin-token-file", "public-addr", "public-port", "max-sessions", "max-participants", "max-session-participants",
		"max-speakers",
		"srtp-profile", "join-timeout", "idle-timeout", "rtcp-report-interval", "cpu-high", "cpu-low", "drain-deadline",
		"drain-grace", "drain-rate", "drain-window", "agones", "agones-wait", "agones-port-name", "health-interval", "report-interval",
		"empty-return", "empty-action", "empty-settle", "allocation-timeout", "agones-address-wait"} {
		if !strings.Contains(out.String(), "--"+f) || !strings.Contains(out.String(), "$VOX_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))) {
			t.Errorf("--help does not explain --%s:\n%s", f, out.String())
		}
	}
}

func TestBadConfigIsUsageError(t *testing.T) {
	for _, args := range [][]string{{"--shards", "-1"}, {"--udp-addr", "nope"}, {"--log-level", "loud"}, {"extra"},
		{"--log-format", "xml"}, {"--srtp-profile", "ROT13"}, {"--admin-addr", "0.0.0.0:8080"},
		{"--admin-token", "a", "--admin-token-file", "/dev/null"}, {"--admin-token-file", "/nonexistent"}, {"--cpu-high", "50", "--cpu-low", "60"},
		{"--empty-return", "-1s"}, {"--empty-settle", "-1s"}, {"--empty-action", "later"},
		{"--allocation-timeout", "0s"}, {"--agones-address-wait", "-1s"}} {
		var out bytes.Buffer
		if code := run(context.Background(), args, noEnv, &out, nil); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, out.String())
		}
	}
	env := func(k string) (string, bool) { return "lots", k == "VOX_SHARDS" }
	var out bytes.Buffer
	if code := run(context.Background(), nil, env, &out, nil); code != exitUsage || !strings.Contains(out.String(), "VOX_SHARDS") {
		t.Errorf("bad env: exit %d: %s", code, out.String())
	}
}

func TestServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan servers, 1)
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"VOX_UDP_ADDR": "127.0.0.1:0", "VOX_SHARDS": "2", "VOX_ADMIN_ADDR": "127.0.0.1:0",
			"VOX_ADMIN_TOKEN": "s3cret"}[k]
		return v, ok
	}
	logs := &syncBuffer{}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--log-format", "json"}, env, logs, ready) }()
	var s servers
	select {
	case s = <-ready:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	if s.udp.NumShards() != 2 {
		t.Fatalf("env VOX_SHARDS ignored: %d shards", s.udp.NumShards())
	}
	resp, err := http.Get("http://" + s.admin.Addr() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "http://"+s.admin.Addr()+"/v1/status", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("status without token: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

// TestSignals runs voxd as a real process (this test binary re-executed)
// and checks SIGTERM stops it cleanly with exit 0.
func TestSignals(t *testing.T) {
	if os.Getenv("VOXD_TEST_MAIN") == "1" {
		// The re-executed child: voxd with no flags, configured from VOX_*.
		os.Exit(run(context.Background(), nil, os.LookupEnv, os.Stderr, nil))
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSignals$")
		cmd.Env = append(os.Environ(), "VOXD_TEST_MAIN=1", "VOX_UDP_ADDR=127.0.0.1:0", "VOX_ADMIN_ADDR=127.0.0.1:0", "VOX_LOG_FORMAT=json")
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), "voxd serving") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("voxd did not start: %s", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(sig)
		errc := make(chan error, 1)
		go func() { errc <- cmd.Wait() }()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("%v: %v\n%s", sig, err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: voxd did not stop", sig)
		}
		// SIGTERM drains (here: nothing to wait for), SIGINT stops at once.
		if !strings.Contains(stderr.String(), `"signal `+sig.String()+`"`) {
			t.Fatalf("%v not logged:\n%s", sig, stderr.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and
// the test reading it.
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

// --rx-coalesce: the default chosen in docs/perf/density.md, the flag and
// its environment variable.
func TestRxCoalesceFlag(t *testing.T) {
	c, err := parseFlags(nil, noEnv, io.Discard)
	if err != nil || c.net.CoalesceBudget != defaultRxCoalesce || defaultRxCoalesce != 300*time.Microsecond {
		t.Fatalf("default: %v, %v", c.net.CoalesceBudget, err)
	}
	env := func(k string) (string, bool) {
		if k == "VOX_RX_COALESCE" {
			return "1ms", true
		}
		return "", false
	}
	if c, err = parseFlags(nil, env, io.Discard); err != nil || c.net.CoalesceBudget != time.Millisecond {
		t.Fatalf("environment: %v, %v", c.net.CoalesceBudget, err)
	}
	if c, err = parseFlags([]string{"--rx-coalesce", "0"}, env, io.Discard); err != nil || c.net.CoalesceBudget != 0 {
		t.Fatalf("flag over environment: %v, %v", c.net.CoalesceBudget, err)
	}
}
