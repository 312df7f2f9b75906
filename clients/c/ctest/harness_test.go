// Package ctest builds the C client (clients/c: libvoxc and voxc, on
// libsrtp2 and libopus) and runs it against real vox servers, with Go
// clients in the same session. It has tests only.
//
// Without cc, make, pkg-config, libsrtp2-dev or libopus-dev the tests are
// skipped, unless the environment variable CI is "true": CI must install
// them (.ci/run does), so there they fail instead of passing silently.
package ctest

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/sessionmgr"
)

const testToken = "ctest-token"

var quiet = slog.New(slog.DiscardHandler)

// cDir is clients/c, relative to this package.
func cDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// needTools skips (or, with CI=true, fails) the test when the C toolchain
// or the libraries are missing.
func needTools(t testing.TB) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ctest: %s is missing and CI=true: CI must install it (apt-get install gcc make pkg-config libsrtp2-dev libopus-dev)", what)
		}
		t.Skipf("ctest: %s is missing: skipping the C client tests (install Debian's gcc make pkg-config libsrtp2-dev libopus-dev to run them; with CI=true they fail instead)", what)
	}
	for _, bin := range []string{"cc", "make", "pkg-config"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing(bin)
		}
	}
	for _, pkg := range []string{"libsrtp2", "opus"} {
		if err := exec.Command("pkg-config", "--exists", pkg).Run(); err != nil {
			missing(pkg + " (pkg-config)")
		}
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// build compiles voxc (and its AddressSanitizer build) once per test
// binary and returns the two executables.
func build(t testing.TB) (voxc, voxcASan string) {
	t.Helper()
	needTools(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "voxc-build-")
		if buildErr != nil {
			return
		}
		for _, target := range []string{"all", "asan"} {
			cmd := exec.Command("make", "-s", "-j2", "-C", cDir(t), "BUILD="+filepath.Join(buildDir, "b"), target)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("make %s: %v\n%s", target, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "b", "voxc"), filepath.Join(buildDir, "b-asan", "voxc")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// voxd is one real vox server in the process: the session manager on
// real UDP sockets and the admin API on a real HTTP server.
type voxd struct {
	m   *sessionmgr.Manager
	api *client.API
}

func startVoxd(t *testing.T) *voxd {
	t.Helper()
	m, err := sessionmgr.New(sessionmgr.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1}, m.NewHandler, netio.Options{Logger: quiet})
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
	return &voxd{m: m, api: a}
}

// cproc is one running voxc talk.
type cproc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   string // its WAV directory
	done  chan struct{}

	mu     sync.Mutex
	lines  []string
	stderr strings.Builder
	exit   error
}

// startC runs voxc talk for adm (the admission it reads from a file),
// talking a tone of freq Hz, with commands on stdin.
func startC(t *testing.T, bin, name string, adm api.Admission, freq float64, env ...string) *cproc {
	t.Helper()
	dir := t.TempDir()
	js, _ := json.Marshal(adm)
	af := filepath.Join(dir, "admission.json")
	if err := os.WriteFile(af, js, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "wav")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &cproc{t: t, name: name, out: out, done: make(chan struct{})}
	c.cmd = exec.Command(bin, "talk", "--admission", af, "--tone", fmt.Sprint(freq), "--seconds", "40",
		"--out", out, "--commands")
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stderr = &lockedWriter{mu: &c.mu, b: &c.stderr}
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
		}
		err := c.cmd.Wait()
		c.mu.Lock()
		c.exit = err
		c.mu.Unlock()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", c.name, strings.Join(c.lines, "\n"), c.name, c.stderr.String())
		}
	})
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// wait returns the first output line for which match is true, failing the
// test after timeout.
func (c *cproc) wait(what string, timeout time.Duration, match func(string) bool) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for _, l := range c.lines {
			if match(l) {
				c.mu.Unlock()
				return l
			}
		}
		c.mu.Unlock()
		select {
		case <-c.done:
			c.t.Fatalf("%s exited while waiting for %s", c.name, what)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: timed out waiting for %s", c.name, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// heard is the last HEARD count of ssrc.
func (c *cproc) heard(ssrc uint32) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := fmt.Sprintf("HEARD %d ", ssrc)
	for i := len(c.lines) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(c.lines[i], p); ok {
			var n uint64
			fmt.Sscan(rest, &n)
			return n
		}
	}
	return 0
}

func (c *cproc) has(match func(string) bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if match(l) {
			return true
		}
	}
	return false
}

func (c *cproc) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatalf("%s: stdin: %v", c.name, err)
	}
}

// finish asks the client to leave and waits for it to exit; it returns its
// STATS as a map.
func (c *cproc) finish() map[string]uint64 {
	c.t.Helper()
	c.send("quit")
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.t.Fatalf("%s did not exit after quit", c.name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exit != nil {
		c.t.Errorf("%s exited with %v; stderr:\n%s", c.name, c.exit, c.stderr.String())
	}
	if strings.Contains(c.stderr.String(), "Sanitizer") {
		c.t.Errorf("%s: sanitizer report:\n%s", c.name, c.stderr.String())
	}
	st := map[string]uint64{}
	for _, l := range c.lines {
		if rest, ok := strings.CutPrefix(l, "STATS "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				var n uint64
				fmt.Sscan(v, &n)
				st[k] = n
			}
		}
	}
	return st
}

func prefixed(p string) func(string) bool {
	return func(l string) bool { return strings.HasPrefix(l, p) }
}

// readWAV reads a 48 kHz mono 16-bit WAV as voxc writes it.
func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[36:40]) != "data" {
		t.Fatalf("%s: not voxc's WAV", path)
	}
	pcm := make([]int16, (len(b)-44)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[44+2*i:]))
	}
	return pcm
}

// goertzel is the amplitude of the freq Hz component of x (48 kHz), as the
// mixer's tests measure it.
func goertzel(x []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / 48000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(x))
}

// proxy is a UDP relay between one client and a server that can inject
// packets towards the client, as an attacker on the path could: the
// client's admission names the proxy as the media address.
type proxy struct {
	t       *testing.T
	front   *net.UDPConn // the client talks to it
	back    *net.UDPConn // connected to the server
	mu      sync.Mutex
	peer    *net.UDPAddr
	lastRTP []byte // the last server RTP and RTCP datagrams relayed
	lastRTC []byte
}

func startProxy(t *testing.T, server string) *proxy {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ra, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, front: front, back: back}
	t.Cleanup(func() { front.Close(); back.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.peer = from
			p.mu.Unlock()
			_, _ = back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			b := append([]byte(nil), buf[:n]...)
			p.mu.Lock()
			peer := p.peer
			if n > 1 && b[1] >= 192 && b[1] <= 223 {
				p.lastRTC = b
			} else {
				p.lastRTP = b
			}
			p.mu.Unlock()
			if peer != nil {
				_, _ = front.WriteToUDP(b, peer)
			}
		}
	}()
	return p
}

func (p *proxy) port() int { return p.front.LocalAddr().(*net.UDPAddr).Port }

// inject sends b to the client as if from the server.
func (p *proxy) inject(b []byte) {
	p.mu.Lock()
	peer := p.peer
	p.mu.Unlock()
	if peer == nil {
		p.t.Fatal("proxy: no client yet")
	}
	if _, err := p.front.WriteToUDP(b, peer); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proxy) captured() (rtp, rtcp []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.lastRTP...), append([]byte(nil), p.lastRTC...)
}
