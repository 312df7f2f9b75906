//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errStopping is returned when a child would start after an interrupt.
var errStopping = errors.New("interrupted: not starting new processes")

// registry tracks every child that is still running, so that an interrupt
// or an early exit can stop them all. Each child is the leader of its own
// process group (Setpgid) and is also SIGKILLed by the kernel if
// netcompare dies (Pdeathsig); besides that, every child has its own -t
// time limit.
type registry struct {
	mu       sync.Mutex
	stopping bool
	live     map[int]*child
}

var children = &registry{live: map[int]*child{}}

// killAll stops every live child (SIGINT by PID, then SIGKILL to its
// process group) and refuses new ones.
func (r *registry) killAll() {
	r.mu.Lock()
	r.stopping = true
	live := make([]*child, 0, len(r.live))
	for _, c := range r.live {
		live = append(live, c)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range live {
		wg.Add(1)
		go func() { defer wg.Done(); c.stop(2 * time.Second) }()
	}
	wg.Wait()
}

// capBuf is a size-capped, goroutine-safe output buffer; with tail set it
// keeps the last max bytes instead of the first.
type capBuf struct {
	mu   sync.Mutex
	b    []byte
	max  int
	tail bool
}

func (c *capBuf) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if len(c.b) > c.max {
		if c.tail {
			c.b = append([]byte(nil), c.b[len(c.b)-c.max:]...)
		} else {
			c.b = c.b[:c.max]
		}
	}
	return len(p), nil
}

func (c *capBuf) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

type child struct {
	name   string
	argv   []string
	pid    int
	stdout *capBuf
	stderr *capBuf
	done   chan struct{}
	err    error // from Wait, valid after done
	killed bool  // needed SIGKILL
}

// startChild runs argv in its own process group.
func startChild(name string, argv []string) (*child, error) {
	c := &child{name: name, argv: argv, stdout: &capBuf{max: 1 << 20}, stderr: &capBuf{max: 4 << 10, tail: true},
		done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	children.mu.Lock()
	if children.stopping {
		children.mu.Unlock()
		return nil, errStopping
	}
	if err := cmd.Start(); err != nil {
		children.mu.Unlock()
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	c.pid = cmd.Process.Pid
	children.live[c.pid] = c
	children.mu.Unlock()
	go func() {
		err := cmd.Wait()
		// Whatever the leader left behind in its process group goes too.
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		if errors.Is(err, exec.ErrWaitDelay) {
			err = errors.New("exited but left a process holding its stdout/stderr (killed)")
		}
		children.mu.Lock()
		delete(children.live, c.pid)
		children.mu.Unlock()
		c.err = err
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGINT to the child's PID, waits up to grace, then SIGKILLs
// its whole process group.
func (c *child) stop(grace time.Duration) {
	if c == nil || c.exited() {
		return
	}
	_ = syscall.Kill(c.pid, syscall.SIGINT)
	select {
	case <-c.done:
		return
	case <-time.After(grace):
	}
	if !c.exited() {
		c.killed = true
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// failure describes a child that misbehaved, with the tail of its stderr.
func (c *child) failure(what string) error {
	msg := strings.TrimSpace(c.stderr.String())
	if len(msg) > 800 {
		msg = "..." + msg[len(msg)-800:]
	}
	if msg != "" {
		msg = "; its stderr ends with:\n" + msg
	}
	return fmt.Errorf("%s (pid %d) %s%s", c.name, c.pid, what, msg)
}

// finished checks how a child ended after stop() or its own exit.
func (c *child) finished() error {
	if !c.exited() {
		return c.failure("did not exit even after SIGKILL")
	}
	if c.killed {
		return c.failure("did not stop within 5 s of SIGINT and was killed")
	}
	if c.err != nil {
		return c.failure("failed: " + c.err.Error())
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// portsFree checks that nothing is bound to the UDP ports a trial uses
// (another benchmark on this shared machine, or a leftover process).
func portsFree(ports []int) error {
	for _, p := range ports {
		c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return fmt.Errorf("UDP port 127.0.0.1:%d is in use (another benchmark running? choose other ports with --fwd-port/--sink-port/--src-port): %w", p, err)
		}
		c.Close()
	}
	return nil
}

func readProcStat() (map[string]jiffies, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return ParseProcStat(string(b))
}

// trialSpec is everything that defines one trial.
type trialSpec struct {
	impl     string
	fanout   int
	mode     string
	threads  int
	kind     string
	rep      int
	rate     float64
	sinkPoll int
}

// runTrial runs sink, forwarder and generator for one trial and parses
// their RESULT lines. All three are stopped before it returns.
func (o *options) runTrial(ctx context.Context, sp trialSpec) (*Trial, error) {
	if sp.kind != KindProbe && sp.rate < 1 {
		return nil, fmt.Errorf("internal error: %s trial at rate %v (0 would mean flat out)", sp.kind, sp.rate)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ports := []int{o.fwdPort}
	for k := 0; k < sp.fanout; k++ {
		ports = append(ports, o.sinkPort+k)
	}
	for k := 0; k < genSockets; k++ {
		ports = append(ports, o.srcPort+k)
	}
	var err error
	for try := 0; try < 6; try++ { // a just-stopped process may still hold a port briefly
		if err = portsFree(ports); err == nil {
			break
		}
		if e := sleepCtx(ctx, 500*time.Millisecond); e != nil {
			return nil, e
		}
	}
	if err != nil {
		return nil, err
	}

	t := &Trial{Impl: sp.impl, Fanout: sp.fanout, Mode: sp.mode, Threads: sp.threads, Size: o.size,
		Secs: o.secs, Kind: sp.kind, Rep: sp.rep, Target: sp.rate, SinkPoll: sp.sinkPoll,
		Start: time.Now().UTC().Format(time.RFC3339)}
	life := strconv.Itoa(o.secs + 8) // hard limit for sink and forwarder
	fwdAddr := "127.0.0.1:" + strconv.Itoa(o.fwdPort)
	sinkAddr := "127.0.0.1:" + strconv.Itoa(o.sinkPort)
	itoa := strconv.Itoa

	sinkArgv := cat(o.cpuPrefix(sp.mode, "1"), []string{o.bin("gen"), "sink", "-l", sinkAddr,
		"-n", itoa(sp.fanout), "-t", life, "-p", itoa(sp.sinkPoll)})
	fwdArgv := cat(o.cpuPrefix(sp.mode, "0"), o.fwdCmd(sp.impl), []string{"-l", fwdAddr,
		"-n", itoa(sp.threads), "-f", itoa(sp.fanout), "-d", sinkAddr, "-t", life}, o.srtpArgs(sp.impl))
	genArgs := []string{"-d", fwdAddr, "-s", itoa(o.size), "-k", itoa(genSockets), "-S", itoa(o.srcPort),
		"-r", strconv.FormatFloat(sp.rate, 'f', 0, 64), "-b", itoa(o.genBatch), "-t", itoa(o.secs), "-g"}
	var genArgv []string
	if isSRTP(sp.impl) {
		genArgv = cat(o.cpuPrefix(sp.mode, "1"), []string{o.bin("gogen")}, genArgs,
			[]string{"-srtp", "-profile", o.profile})
	} else {
		genArgv = cat(o.cpuPrefix(sp.mode, "1"), []string{o.bin("gen"), "send"}, genArgs)
	}

	sink, err := startChild("sink", sinkArgv)
	if err != nil {
		return nil, err
	}
	defer sink.stop(5 * time.Second)
	fwd, err := startChild(sp.impl+" forwarder", fwdArgv)
	if err != nil {
		return nil, err
	}
	defer fwd.stop(5 * time.Second)
	if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
		return nil, err
	}
	for _, c := range []*child{fwd, sink} {
		if c.exited() {
			return nil, c.failure("exited before the generator started")
		}
	}
	s0, err := readProcStat()
	if err != nil {
		return nil, err
	}
	gen, err := startChild("generator", genArgv)
	if err != nil {
		return nil, err
	}
	defer gen.stop(2 * time.Second)
	select {
	case <-gen.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Duration(o.secs+10) * time.Second):
		gen.stop(2 * time.Second)
		return nil, gen.failure(fmt.Sprintf("still running %d s after its -t %d", o.secs+10, o.secs))
	}
	s1, err := readProcStat()
	if err != nil {
		return nil, err
	}
	t.Util = Utilization(s0, s1)
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil { // let forwarder and sink drain
		return nil, err
	}
	fwd.stop(5 * time.Second)
	sink.stop(5 * time.Second)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, c := range []*child{gen, fwd, sink} {
		if err := c.finished(); err != nil {
			return nil, err
		}
	}
	for _, x := range []struct {
		c    *child
		kind string
		dst  *string
	}{{gen, "gen", &t.GenLine}, {fwd, "fwd", &t.FwdLine}, {sink, "sink", &t.SinkLine}} {
		r, err := ParseResult(x.c.stdout.String(), x.kind)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", x.c.name, strings.Join(x.c.argv, " "), err)
		}
		*x.dst = r.Line
	}
	if err := t.derive(); err != nil {
		return nil, fmt.Errorf("%s trial: %w", sp.impl, err)
	}
	return t, nil
}

// cat concatenates argv pieces into a fresh slice.
func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
