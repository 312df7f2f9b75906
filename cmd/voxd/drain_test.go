package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/sessionmgr"
)

// childVoxd runs voxd as a real process (this test binary re-executed, see
// TestSignals) and returns it with its admin API client once it serves.
type childVoxd struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	api  *client.API
	done chan error
}

func startChild(t *testing.T, env ...string) *childVoxd {
	t.Helper()
	c := &childVoxd{logs: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestSignals$")
	c.cmd.Env = append(os.Environ(), append([]string{"VOXD_TEST_MAIN=1", "VOX_UDP_ADDR=127.0.0.1:0",
		"VOX_ADMIN_ADDR=127.0.0.1:0", "VOX_LOG_FORMAT=json", "VOX_ADMIN_TOKEN=tok"}, env...)...)
	pr, pw := io.Pipe()
	c.cmd.Stderr = pw
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { c.cmd.Process.Kill() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			c.logs.Write([]byte(line + "\n"))
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "voxd serving" {
				ready <- m["admin"].(string)
			}
		}
	}()
	select {
	case addr := <-ready:
		c.api, _ = client.NewAPI("http://"+addr, "tok")
	case <-time.After(10 * time.Second):
		t.Fatalf("voxd did not start:\n%s", c.logs.String())
	}
	return c
}

func (c *childVoxd) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-c.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("voxd still running after %v:\n%s", within, c.logs.String())
	}
	return -1
}

func joinOne(t *testing.T, api *client.API) *client.Participant {
	t.Helper()
	adm, err := api.Admit(context.Background(), "room", sessionmgr.AdmitRequest{ParticipantID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := client.Join(context.Background(), adm, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Send([]byte("hello"))
	return p
}

func TestDrainOnSIGTERMWaitsForSessions(t *testing.T) {
	c := startChild(t, "VOX_DRAIN_DEADLINE=20s", "VOX_DRAIN_GRACE=10s")
	p := joinOne(t, c.api)
	c.cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "draining", func() bool {
		st, err := c.api.Status(context.Background())
		return err == nil && st.State == sessionmgr.StateDraining
	})
	if _, err := c.api.Admit(context.Background(), "room", sessionmgr.AdmitRequest{}); !errors.Is(err, sessionmgr.ErrNotAccepting) {
		t.Fatalf("admitted while draining: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case <-c.done:
		t.Fatalf("voxd exited with a session still up:\n%s", c.logs.String())
	default:
	}
	p.Leave() // RTCP BYE: the last participant goes
	if code := c.wait(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, c.logs.String())
	}
	if !strings.Contains(c.logs.String(), `"cause":"drained"`) {
		t.Fatalf("not drained:\n%s", c.logs.String())
	}
}

func TestDrainDeadline(t *testing.T) {
	c := startChild(t, "VOX_DRAIN_DEADLINE=300ms", "VOX_DRAIN_GRACE=100ms")
	joinOne(t, c.api)
	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.wait(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(c.logs.String(), "drain deadline: removed") {
		t.Fatalf("deadline not logged:\n%s", c.logs.String())
	}
}

func TestSecondSignalForcesExit(t *testing.T) {
	c := startChild(t, "VOX_DRAIN_DEADLINE=30s", "VOX_DRAIN_GRACE=10s")
	joinOne(t, c.api)
	c.cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "draining", func() bool { return strings.Contains(c.logs.String(), "drain started") })
	c.cmd.Process.Signal(syscall.SIGINT)
	if code := c.wait(t, 10*time.Second); code != exitForced {
		t.Fatalf("exit %d, want %d", code, exitForced)
	}
}

// TestSignalAfterAPIDrainStaysUp: a drain asked over the API with exit
// false leaves voxd up once drained; a signal then is a plain stop (exit
// 0), not a "second signal during a drain" (exit 3).
func TestSignalAfterAPIDrainStaysUp(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			c := startChild(t)
			stay := false
			if _, err := c.api.Drain(context.Background(), sessionmgr.DrainRequest{
				Grace: sessionmgr.Duration(time.Millisecond), Deadline: sessionmgr.Duration(time.Second), Exit: &stay}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "drained and staying up", func() bool { return strings.Contains(c.logs.String(), "staying up") })
			if st, err := c.api.Status(context.Background()); err != nil || st.State != sessionmgr.StateDrained {
				t.Fatalf("status after the drain: %+v %v", st, err)
			}
			c.cmd.Process.Signal(sig)
			if code := c.wait(t, 10*time.Second); code != exitOK {
				t.Fatalf("exit %d, want %d:\n%s", code, exitOK, c.logs.String())
			}
			if logs := c.logs.String(); strings.Contains(logs, "forced") || !strings.Contains(logs, `"cause":"signal `+sig.String()) {
				t.Fatalf("not a plain stop by the signal:\n%s", logs)
			}
		})
	}
}

// TestSecondSignalDuringAPIDrainForcesExit: during a running drain asked
// over the API, the first SIGTERM makes voxd exit when drained and a
// second signal forces the exit (3).
func TestSecondSignalDuringAPIDrainForcesExit(t *testing.T) {
	c := startChild(t)
	joinOne(t, c.api)
	stay := false
	if _, err := c.api.Drain(context.Background(), sessionmgr.DrainRequest{
		Grace: sessionmgr.Duration(10 * time.Second), Deadline: sessionmgr.Duration(30 * time.Second), Exit: &stay}); err != nil {
		t.Fatal(err)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "the signal seen", func() bool { return strings.Contains(c.logs.String(), "will exit when drained") })
	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.wait(t, 10*time.Second); code != exitForced {
		t.Fatalf("exit %d, want %d:\n%s", code, exitForced, c.logs.String())
	}
}

// TestSignalDrainCancelledOverAPI: a SIGTERM drain cancelled over the API
// during its grace period leaves voxd serving; a later SIGINT is a plain
// stop (exit 0), not a forced one.
func TestSignalDrainCancelledOverAPI(t *testing.T) {
	c := startChild(t, "VOX_DRAIN_DEADLINE=30s", "VOX_DRAIN_GRACE=10s")
	joinOne(t, c.api)
	c.cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "draining", func() bool { return strings.Contains(c.logs.String(), "drain started") })
	if _, err := c.api.CancelDrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the cancel seen", func() bool { return strings.Contains(c.logs.String(), "cancelled over the API") })
	c.cmd.Process.Signal(syscall.SIGINT)
	if code := c.wait(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit %d, want %d:\n%s", code, exitOK, c.logs.String())
	}
}
