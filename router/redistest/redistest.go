// Package redistest runs a throwaway redis-server for tests: on a free
// loopback port, without persistence, stopped when the test ends.
//
// When the redis-server binary is not on PATH the test is skipped, unless
// the environment variable CI is "true": CI must install it (.ci/run
// does), so there the test fails instead of passing silently.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is the server run by Start.
const Binary = "redis-server"

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	path string
	port int

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server on a free loopback port and stops it when
// the test ends. It skips the test when the binary is missing, or fails
// it when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := exec.LookPath(Binary)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: %s is not on PATH and CI=true: CI must install it (apt-get install redis-server)", Binary)
		}
		t.Skipf("redistest: %s is not on PATH: skipping the Redis tests (install Debian's redis-server to run them; with CI=true they fail instead)", Binary)
	}
	s := &Server{t: t, path: path}
	var last error
	for range 10 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.port = port
		if last = s.start(); last == nil {
			t.Cleanup(s.Stop)
			return s
		}
		// Most likely another process took the port between our probe
		// and redis-server's bind: try another one.
	}
	t.Fatalf("redistest: could not start %s: %v", Binary, last)
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago
// (redis-server does not take --port 0).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command(s.path,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", // nothing on disk: a restart is empty
		"--daemonize", "no", "--loglevel", "warning", "--logfile", "",
		"--dir", s.t.TempDir())
	out := &tail{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.path, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr()); err == nil {
			break
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited: %s", Binary, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s did not answer PING within 10s: %s", Binary, out.String())
		}
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// ping sends one PING in the protocol's inline form.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Kill kills the server at once (SIGKILL: no shutdown, nothing saved) and
// waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts a new, empty server on the same port after Kill. It
// retries for a few seconds while the port is not free yet.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err = s.start(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: restart on port %d: %v", s.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (it also runs when the test ends).
func (s *Server) Stop() { s.Kill() }

// Flush empties the server (FLUSHALL) between sub-tests.
func (s *Server) Flush(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("FLUSHALL\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+OK") {
		return errors.New("FLUSHALL answered " + strings.TrimSpace(line))
	}
	return nil
}

// tail keeps the last few KiB of the server's output, for errors.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
