package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/media"
)

// Flood kinds: what an attacker on the internet would send a pod.
const (
	kindNone     = "none"         // the baseline: the same run without flood
	kindRandom   = "random"       // random bytes of random length (mostly not RTP/RTCP at all)
	kindUnknown  = "unknown-ssrc" // well-formed RTP with SSRCs no participant has
	kindForged   = "forged"       // RTP with the talkers' SSRCs and random tags, from foreign addresses
	kindReplay   = "replay"       // captured genuine SRTP packets sent again (from the latched and from foreign addresses)
	kindRTCPJunk = "rtcp-junk"    // RTCP headers (SR..APP) with known and unknown SSRCs, random bodies
	kindOversize = "oversized"    // datagrams of 2-9 kB (above the pod's datagram limit)
	kindRebind   = "rebind"       // not a flood run: the victim's NAT rebinding under a forged flood at its SSRC
)

var floodKinds = []string{kindRandom, kindUnknown, kindForged, kindReplay, kindRTCPJunk, kindOversize}

// floodConfig is voxbench flood's own flags.
type floodConfig struct {
	kinds      string
	rate       int
	sources    int
	rebinds    int
	rebindWait time.Duration
	floodFirst time.Duration
	reps       int
}

// FloodResult is voxbench flood --json.
type FloodResult struct {
	Layout     string       `json:"layout"`
	RatePPS    int          `json:"rate_pps"`
	Sources    int          `json:"sources"`
	ServerPID  int          `json:"server_pid,omitempty"`
	Runs       []FloodRun   `json:"runs"`
	Rebind     *RebindStats `json:"rebind,omitempty"`
	Note       string       `json:"note"`
	Objectives Objectives   `json:"objectives"`
}

// FloodRun is one steady run beside one kind of flood (or none).
type FloodRun struct {
	Kind string `json:"kind"`
	Rep  int    `json:"rep"`
	// SentPPS is the garbage rate the generator achieved (over its whole
	// run), Garbage the datagrams it sent.
	SentPPS float64 `json:"sent_pps"`
	Garbage uint64  `json:"garbage"`
	// The real sessions' voice.
	LossPct float64 `json:"loss_pct"`
	P50US   float64 `json:"p50_us"`
	P99US   float64 `json:"p99_us"`
	MaxUS   float64 `json:"max_us"`
	// The server process's CPU (cores) over the window, and the extra
	// CPU per garbage datagram against the baseline run of the same rep.
	CPUCores          float64 `json:"cpu_cores"`
	CPUPerGarbageNS   float64 `json:"cpu_per_garbage_ns,omitempty"`
	GeneratorCPUCores float64 `json:"generator_cpu_cores"`
	// Drops are the server's drop counters over the run (all of it, set-up
	// included), by reason; KernelDrops the receive buffer's.
	Drops       map[string]uint64 `json:"drops"`
	KernelDrops uint64            `json:"kernel_drops"`
	Rebinds     uint64            `json:"rebinds"`
}

// RebindStats are the victim's rebinding delays (from its first packet
// from the new address to its partner receiving one) without and with a
// forged flood at its SSRC from --sources addresses.
type RebindStats struct {
	FloodPPS      float64   `json:"flood_pps"`
	FloodFirstS   float64   `json:"flood_first_s"` // the flood ran this long before the first flooded rebinding
	QuietMS       []float64 `json:"quiet_ms"`
	FloodedMS     []float64 `json:"flooded_ms"`
	TimedOut      int       `json:"timed_out"` // flooded rebindings not done within --rebind-wait
	QuietTimedOut int       `json:"quiet_timed_out"`
	AuthAttempts  uint64    `json:"auth_attempts"`
	RateLimited   uint64    `json:"rate_limited"`
	FloodSeconds  float64   `json:"flood_seconds"`
	AuthPerSecond float64   `json:"auth_attempts_per_s"`
}

func floodCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	fc := &floodConfig{}
	c, code, ok := parseBench("flood", `voxbench flood — garbage at --rate beside real talking sessions, one run per kind and one without
flood (the baseline), the same layout each time: the real sessions' loss and latency, the server's CPU per
garbage datagram (with --server-pid; the generator must not share the server's CPU: pin them apart with
taskset), the server's drop counters by reason; and, with kind rebind, how long a participant's NAT rebinding
takes while a forged flood at its SSRC comes from --sources addresses.

Kinds: random, unknown-ssrc, forged, replay, rtcp-junk, oversized, rebind (default: all).

Usage: voxbench flood [flags]`, args, lookup, stderr, func(c *steadyConfig) {
		c.sessions, c.size, c.talkers = 20, 4, 1
		c.duration, c.warmup = 10*time.Second, 2*time.Second
	}, func(fs *flag.FlagSet) {
		fs.StringVar(&fc.kinds, "kinds", strings.Join(append(slices.Clone(floodKinds), kindRebind), ","), "flood kinds to run, comma-separated (the baseline always runs)")
		fs.IntVar(&fc.rate, "rate", 20000, "garbage datagrams per second")
		fs.IntVar(&fc.sources, "sources", 64, "source addresses (sockets) of the garbage")
		fs.IntVar(&fc.rebinds, "rebinds", 5, "kind rebind: rebindings measured, quiet and flooded each")
		fs.DurationVar(&fc.rebindWait, "rebind-wait", 10*time.Second, "kind rebind: give up on one rebinding after this long")
		fs.DurationVar(&fc.floodFirst, "rebind-flood-first", 500*time.Millisecond, "kind rebind: how long the forged flood runs before the first flooded rebinding")
		fs.IntVar(&fc.reps, "reps", 1, "repetitions of the baseline and every kind (interleaved)")
	})
	if !ok {
		return code
	}
	kinds, err := parseKinds(fc.kinds)
	if err == nil && (fc.rate < 1 || fc.rate > 2_000_000 || fc.sources < 1 || fc.sources > 1024 || fc.reps < 1 || fc.reps > 20 || fc.rebinds < 1 || fc.rebinds > 100) {
		err = errors.New("--rate 1..2000000, --sources 1..1024, --reps 1..20, --rebinds 1..100")
	}
	if err != nil {
		fmt.Fprintln(stderr, "voxbench:", err)
		return exitUsage
	}
	res, err := runFlood(ctx, c, fc, kinds, stderr)
	if err != nil {
		return setupFailed(ctx, stderr, err)
	}
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		writeFloodTable(stdout, res)
	}
	if !res.Objectives.Met {
		fmt.Fprintf(stderr, "voxbench: objective missed: %s\n", strings.Join(res.Objectives.Missed, "; "))
		return exitMissed
	}
	return exitOK
}

func parseKinds(s string) ([]string, error) {
	var out []string
	for k := range strings.SplitSeq(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(floodKinds, k) && k != kindRebind {
			return nil, fmt.Errorf("--kinds: unknown kind %q (want %s, %s)", k, strings.Join(floodKinds, ", "), kindRebind)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func runFlood(ctx context.Context, c *steadyConfig, fc *floodConfig, kinds []string, stderr io.Writer) (*FloodResult, error) {
	ac, err := client.NewAPI(c.admin, c.token)
	if err != nil {
		return nil, err
	}
	res := &FloodResult{
		Layout:    fmt.Sprintf("%d sessions × %d (%d talking), %s measured after %s", c.sessions, c.size, c.talkers, c.duration, c.warmup),
		RatePPS:   fc.rate,
		Sources:   fc.sources,
		ServerPID: c.serverPID,
		Note:      "cpu_per_garbage_ns = (server CPU with the flood − server CPU of the baseline of the same rep) / garbage rate; the generator runs in this process",
	}
	// The victim: a session of two raw participants, the victim talking
	// 50 packets/s, its partner listening. Its packets are the replays'
	// source and its SSRC the rebinding flood's target.
	v, err := newVictim(ctx, ac, c)
	if err != nil {
		return nil, err
	}
	defer v.close(ac)
	floodCtx, stopVictim := context.WithCancel(ctx)
	defer stopVictim()
	go v.talk(floodCtx)

	var runKinds []string
	for _, k := range kinds {
		if k != kindRebind {
			runKinds = append(runKinds, k)
		}
	}
	for rep := range fc.reps {
		var base *FloodRun
		for _, kind := range append([]string{kindNone}, runKinds...) {
			fmt.Fprintf(stderr, "voxbench flood: rep %d, %s\n", rep+1, kind)
			run, err := floodRun(ctx, c, fc, ac, v, kind)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kind, err)
			}
			run.Rep = rep + 1
			if kind == kindNone {
				base = run
			} else if base != nil && c.serverPID > 0 && run.SentPPS > 0 {
				run.CPUPerGarbageNS = (run.CPUCores - base.CPUCores) / run.SentPPS * 1e9
			}
			res.Runs = append(res.Runs, *run)
		}
	}
	if slices.Contains(kinds, kindRebind) {
		fmt.Fprintln(stderr, "voxbench flood: rebind")
		rb, err := measureRebinds(ctx, fc, ac, v)
		if err != nil {
			fmt.Fprintln(stderr, "voxbench flood: rebind:", err) // the runs' results still count
		}
		res.Rebind = rb
	}
	res.Objectives = floodObjectives(c, res)
	return res, nil
}

// floodObjectives applies --max-loss and --max-p99 to every run.
func floodObjectives(c *steadyConfig, res *FloodResult) Objectives {
	o := Objectives{Met: true}
	if c.maxLoss >= 0 {
		o.MaxLossPct = &c.maxLoss
	}
	if c.maxP99 > 0 {
		p := usf(c.maxP99)
		o.MaxP99US = &p
	}
	for _, r := range res.Runs {
		if c.maxLoss >= 0 && r.LossPct > c.maxLoss {
			o.Met = false
			o.Missed = append(o.Missed, fmt.Sprintf("%s: loss %.3f%% > %.3f%%", r.Kind, r.LossPct, c.maxLoss))
		}
		if c.maxP99 > 0 && r.P99US > usf(c.maxP99) {
			o.Met = false
			o.Missed = append(o.Missed, fmt.Sprintf("%s: p99 %.0f µs > %v", r.Kind, r.P99US, c.maxP99))
		}
	}
	return o
}

// floodRun is one steady run beside a flood of kind.
func floodRun(ctx context.Context, c *steadyConfig, fc *floodConfig, ac *client.API, v *victim, kind string) (*FloodRun, error) {
	st0, err := ac.Status(ctx)
	if err != nil {
		return nil, err
	}
	var fl *flooder
	cc := *c
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	cc.afterJoin = func(ctx context.Context, ac *client.API, ids []string) error {
		if kind == kindNone {
			return nil
		}
		var ssrcs []uint32
		for _, id := range ids {
			info, err := ac.Session(ctx, id)
			if err != nil {
				return err
			}
			for _, p := range info.Participants {
				ssrcs = append(ssrcs, p.SSRC)
			}
		}
		var err error
		fl, err = newFlooder(kind, fc.rate, fc.sources, v, ssrcs)
		if err != nil {
			return err
		}
		go fl.run(fctx)
		return nil
	}
	gen0 := processCPU()
	t0 := time.Now()
	r, err := runSteady(ctx, &cc, nil)
	stop()
	genCPU, wall := processCPU()-gen0, time.Since(t0)
	if err != nil {
		return nil, err
	}
	st1, err := ac.Status(ctx)
	if err != nil {
		return nil, err
	}
	run := &FloodRun{
		Kind: kind, LossPct: r.LossPct, P50US: r.Latency.P50US, P99US: r.Latency.P99US, MaxUS: r.Latency.MaxUS,
		CPUCores: r.Server.CPUCores, GeneratorCPUCores: genCPU.Seconds() / wall.Seconds(),
		Drops: dropDeltas(st0.Totals, st1.Totals), KernelDrops: st1.Totals.KernelDrops - st0.Totals.KernelDrops,
		Rebinds: st1.Totals.Rebinds - st0.Totals.Rebinds,
	}
	if fl != nil {
		fl.wait()
		run.Garbage = fl.sent.Load()
		if d := fl.elapsed(); d > 0 {
			run.SentPPS = float64(run.Garbage) / d.Seconds()
		}
	}
	return run, nil
}

func dropDeltas(a, b api.Counters) map[string]uint64 {
	m := map[string]uint64{
		"unknown_ssrc": b.DropUnknownSSRC - a.DropUnknownSSRC,
		"auth":         b.DropAuth - a.DropAuth,
		"replay":       b.DropReplay - a.DropReplay,
		"malformed":    b.DropMalformed - a.DropMalformed,
		"too_short":    b.DropTooShort - a.DropTooShort,
		"too_long":     b.DropTooLong - a.DropTooLong,
		"not_rtp":      b.DropNotRTP - a.DropNotRTP,
		"rate_limit":   b.DropRateLimit - a.DropRateLimit,
		"truncated":    b.DropTruncated - a.DropTruncated,
	}
	for k, v := range m {
		if v == 0 {
			delete(m, k)
		}
	}
	return m
}

// victim is a raw participant talking 50 packets/s, and its partner.
type victim struct {
	session  string
	adm, lis api.Admission
	out      *media.Outbound
	in       *media.Inbound
	lout     *media.Outbound // the partner's, for its keep-alive reports
	server   *net.UDPAddr
	conn     atomic.Pointer[net.UDPConn] // the victim's current socket
	lconn    *net.UDPConn
	seq      atomic.Uint32

	mu       sync.Mutex
	captured [][]byte // its latest SRTP packets, for replays
	next     int

	// got is the highest payload sequence number its partner received,
	// gotAt when it did.
	got   atomic.Uint32
	gotAt atomic.Int64
	epoch time.Time
	done  chan struct{}
}

func newVictim(ctx context.Context, ac *client.API, c *steadyConfig) (*victim, error) {
	var rid [4]byte
	crand.Read(rid[:])
	v := &victim{session: fmt.Sprintf("%s-victim-%x", c.prefix, rid), epoch: time.Now(), done: make(chan struct{})}
	var err error
	opts := &api.SessionOptions{MaxParticipants: 2, Profile: c.profile}
	if v.adm, err = ac.Admit(ctx, v.session, api.AdmitRequest{ParticipantID: "victim", Session: opts}); err != nil {
		return nil, err
	}
	if v.lis, err = ac.Admit(ctx, v.session, api.AdmitRequest{ParticipantID: "partner", Session: opts}); err != nil {
		return nil, err
	}
	prof, _ := media.ParseProfile(string(v.adm.SRTP.Profile))
	if v.out, err = media.NewOutbound(prof, media.Keys(v.adm.SRTP.ClientToServer)); err != nil {
		return nil, err
	}
	if v.in, err = media.NewInbound(prof, media.Keys(v.lis.SRTP.ServerToClient)); err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(v.adm.Media.Address)
	if err != nil {
		return nil, fmt.Errorf("media address %q: %w", v.adm.Media.Address, err)
	}
	v.server = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(v.adm.Media.Port)))
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopbackLike(ip)})
	if err != nil {
		return nil, err
	}
	v.conn.Store(conn)
	if v.lconn, err = net.ListenUDP("udp", &net.UDPAddr{IP: loopbackLike(ip)}); err != nil {
		return nil, err
	}
	// The partner latches with an RTCP receiver report (and sends one
	// every second, or the pod would time it out).
	if v.lout, err = media.NewOutbound(prof, media.Keys(v.lis.SRTP.ClientToServer)); err != nil {
		return nil, err
	}
	if err := v.keepAlive(); err != nil {
		return nil, err
	}
	go v.listen()
	return v, nil
}

// keepAlive sends the partner's receiver report.
func (v *victim) keepAlive() error {
	rr, _ := media.AppendReceiverReport(nil, v.lis.SSRC)
	enc, err := v.lout.EncryptRTCP(nil, rr)
	if err != nil {
		return err
	}
	_, err = v.lconn.WriteToUDP(enc, v.server)
	return err
}

// loopbackLike is the local address to send to ip from: the loopback of
// its family when ip is a loopback, else any.
func loopbackLike(ip netip.Addr) net.IP {
	switch {
	case ip.Is4() && ip.IsLoopback():
		return net.IPv4(127, 0, 0, 1)
	case ip.IsLoopback():
		return net.IPv6loopback
	}
	return nil
}

func (v *victim) listen() {
	defer close(v.done)
	buf := make([]byte, 2048)
	for {
		n, err := v.lconn.Read(buf)
		if err != nil {
			return
		}
		if media.Classify(buf[:n]) != media.KindRTP {
			continue
		}
		plain, h, err := v.in.DecryptRTP(buf[:n])
		if err != nil {
			continue
		}
		pl := h.Payload(plain)
		if len(pl) < 6 || pl[0] != 'F' || pl[1] != 'V' {
			continue
		}
		s := binary.BigEndian.Uint32(pl[2:])
		if s > v.got.Load() {
			v.gotAt.Store(int64(time.Since(v.epoch)))
			v.got.Store(s)
		}
	}
}

// talk sends a frame every 20 ms until ctx ends, keeping the last 256.
func (v *victim) talk(ctx context.Context) {
	t := time.NewTicker(framePause)
	defer t.Stop()
	payload := make([]byte, 100)
	payload[0], payload[1] = 'F', 'V'
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := v.seq.Add(1)
		if s%50 == 0 {
			_ = v.keepAlive()
		}
		binary.BigEndian.PutUint32(payload[2:], s)
		f := media.RTPFields{PayloadType: 111, SequenceNumber: uint16(s), Timestamp: s * 960, SSRC: v.adm.SSRC}
		plain, err := media.AppendRTPHeaderWithAudioLevel(nil, f, v.adm.AudioLevelExtensionID, 30, true)
		if err != nil {
			return
		}
		enc, err := v.out.EncryptRTP(nil, append(plain, payload...))
		if err != nil {
			return
		}
		_, _ = v.conn.Load().WriteToUDP(enc, v.server)
		v.mu.Lock()
		if len(v.captured) < 256 {
			v.captured = append(v.captured, enc)
		} else {
			v.captured[v.next%256] = enc
			v.next++
		}
		v.mu.Unlock()
	}
}

// replays returns copies of the captured packets.
func (v *victim) replays() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([][]byte, len(v.captured))
	for i, b := range v.captured {
		out[i] = slices.Clone(b)
	}
	return out
}

// rebind moves the victim to a new socket and returns when it sent its
// first packet from there (the sequence number it will carry).
func (v *victim) rebind() (first uint32, at time.Duration, err error) {
	ip := v.server.AddrPort().Addr()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopbackLike(ip)})
	if err != nil {
		return 0, 0, err
	}
	old := v.conn.Swap(conn)
	first, at = v.seq.Load()+1, time.Since(v.epoch)
	old.Close()
	return first, at, nil
}

func (v *victim) close(ac *client.API) {
	if c := v.conn.Load(); c != nil {
		c.Close()
	}
	v.lconn.Close()
	<-v.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ac.DeleteSession(ctx, v.session)
}

// flooder sends one kind of garbage at a rate from many sockets.
type flooder struct {
	kind    string
	rate    int
	socks   []*ipv4.PacketConn
	conns   []*net.UDPConn
	victim  *victim // replays from its own socket too
	pkts    [][]byte
	server  *net.UDPAddr
	sent    atomic.Uint64
	started time.Time
	stopped atomic.Int64
	done    chan struct{}
}

func newFlooder(kind string, rate, sources int, v *victim, ssrcs []uint32) (*flooder, error) {
	fl := &flooder{kind: kind, rate: rate, victim: v, server: v.server, done: make(chan struct{})}
	ip := v.server.AddrPort().Addr()
	for range sources {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopbackLike(ip)})
		if err != nil {
			fl.closeSocks()
			return nil, err
		}
		fl.conns = append(fl.conns, c)
		fl.socks = append(fl.socks, ipv4.NewPacketConn(c))
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	if len(ssrcs) == 0 {
		ssrcs = []uint32{v.adm.SSRC}
	}
	known := func(i int) uint32 { return ssrcs[i%len(ssrcs)] }
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	rtp := func(ssrc uint32, n int) []byte {
		b := make([]byte, n)
		fill(b)
		b[0], b[1] = 0x80, 111
		binary.BigEndian.PutUint32(b[8:], ssrc)
		return b
	}
	const pool = 1024
	switch kind {
	case kindRandom:
		for range pool {
			b := make([]byte, 1+rng.IntN(200))
			fill(b)
			if b[0]>>6 == 2 {
				b[0] &^= 0x80 // not version 2: the cheapest path
			}
			fl.pkts = append(fl.pkts, b)
		}
	case kindUnknown:
		for i := range pool {
			ssrc := rng.Uint32()
			for slices.Contains(ssrcs, ssrc) {
				ssrc = rng.Uint32()
			}
			fl.pkts = append(fl.pkts, rtp(ssrc, 60+i%120))
		}
	case kindForged:
		for i := range pool {
			fl.pkts = append(fl.pkts, rtp(known(i), 60+i%120))
		}
	case kindRTCPJunk:
		for i := range pool {
			b := make([]byte, 28+4*(i%16))
			fill(b)
			b[0], b[1] = 0x80|byte(i%2), 200+byte(i%5)
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)/4-1))
			ssrc := rng.Uint32()
			if i%2 == 0 {
				ssrc = known(i)
			}
			binary.BigEndian.PutUint32(b[4:], ssrc)
			fl.pkts = append(fl.pkts, b)
		}
	case kindOversize:
		for i := range 64 {
			fl.pkts = append(fl.pkts, rtp(known(i), 2000+rng.IntN(7000)))
		}
	case kindReplay:
		fl.pkts = v.replays()
		if len(fl.pkts) == 0 {
			fl.closeSocks()
			return nil, errors.New("no victim packets captured yet")
		}
	case kindRebind:
		for i := range pool {
			fl.pkts = append(fl.pkts, rtp(v.adm.SSRC, 60+i%120))
		}
	default:
		fl.closeSocks()
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	return fl, nil
}

func (fl *flooder) closeSocks() {
	for _, c := range fl.conns {
		c.Close()
	}
}

// run sends at fl.rate until ctx ends: every millisecond what is due, in
// batches of up to 64 datagrams per sendmmsg, round robin over the
// sockets. Replays alternate between the victim's own (latched) socket
// and the foreign ones.
func (fl *flooder) run(ctx context.Context) {
	defer close(fl.done)
	defer fl.closeSocks()
	fl.started = time.Now()
	defer func() { fl.stopped.Store(int64(time.Since(fl.started))) }()
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = make([][]byte, 1)
		msgs[i].Addr = fl.server
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var sent uint64
	k, s := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := uint64(time.Since(fl.started).Seconds() * float64(fl.rate))
		// Never more than 100 ms behind: a stalled generator does not
		// burst to catch up.
		if lag := due - min(due, sent); lag > uint64(fl.rate/10+64) {
			sent = due - uint64(fl.rate/10+64)
		}
		for sent < due && ctx.Err() == nil {
			n := int(min(due-sent, 64))
			for i := range n {
				msgs[i].Buffers[0] = fl.pkts[k%len(fl.pkts)]
				k++
			}
			var err error
			if fl.kind == kindReplay && s%2 == 0 {
				// From the latched address: the replay window's cheap drop.
				for i := range n {
					if _, err = fl.victim.conn.Load().WriteToUDP(msgs[i].Buffers[0], fl.server); err != nil {
						break
					}
				}
			} else {
				_, err = fl.socks[s%len(fl.socks)].WriteBatch(msgs[:n], 0)
			}
			s++
			sent += uint64(n)
			if err == nil {
				fl.sent.Add(uint64(n))
			}
		}
	}
}

func (fl *flooder) wait() { <-fl.done }

func (fl *flooder) elapsed() time.Duration { return time.Duration(fl.stopped.Load()) }

// measureRebinds rebinds the victim --rebinds times without and then with
// a forged flood at its SSRC, and times each rebinding until its partner
// hears it again.
func measureRebinds(ctx context.Context, fc *floodConfig, ac *client.API, v *victim) (*RebindStats, error) {
	rb := &RebindStats{FloodFirstS: fc.floodFirst.Seconds()}
	one := func() (time.Duration, bool, error) {
		// Let the current address settle first.
		time.Sleep(200 * time.Millisecond)
		first, at, err := v.rebind()
		if err != nil {
			return 0, false, err
		}
		deadline := time.Now().Add(fc.rebindWait)
		for v.got.Load() < first {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fc.rebindWait, false, ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
		return time.Duration(v.gotAt.Load()) - at, true, nil
	}
	for range fc.rebinds {
		d, ok, err := one()
		if err != nil {
			return nil, err
		}
		if !ok {
			rb.QuietTimedOut++
		}
		rb.QuietMS = append(rb.QuietMS, msf(d))
	}
	st0, err := ac.Status(ctx)
	if err != nil {
		return nil, err
	}
	fl, err := newFlooder(kindRebind, fc.rate, fc.sources, v, nil)
	if err != nil {
		return nil, err
	}
	fctx, stop := context.WithCancel(ctx)
	go fl.run(fctx)
	time.Sleep(fc.floodFirst) // the flood drains the victim's budget first
	for range fc.rebinds {
		d, ok, err := one()
		if err != nil {
			stop()
			return nil, err
		}
		if !ok {
			rb.TimedOut++
		}
		rb.FloodedMS = append(rb.FloodedMS, msf(d))
	}
	stop()
	fl.wait()
	st1, err := ac.Status(ctx)
	if err != nil {
		return nil, err
	}
	rb.FloodSeconds = fl.elapsed().Seconds()
	if rb.FloodSeconds > 0 {
		rb.FloodPPS = float64(fl.sent.Load()) / rb.FloodSeconds
	}
	rb.AuthAttempts = st1.Totals.DropAuth - st0.Totals.DropAuth
	rb.RateLimited = st1.Totals.DropRateLimit - st0.Totals.DropRateLimit
	if rb.FloodSeconds > 0 {
		rb.AuthPerSecond = float64(rb.AuthAttempts) / rb.FloodSeconds
	}
	return rb, nil
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }

func writeFloodTable(w io.Writer, r *FloodResult) {
	fmt.Fprintf(w, "layout %s; garbage %d datagrams/s from %d sources\n", r.Layout, r.RatePPS, r.Sources)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "kind\trep\tsent/s\tloss %\tp50 µs\tp99 µs\tmax µs\tserver cores\tns/garbage\tgen cores\tdrops")
	for _, x := range r.Runs {
		keys := make([]string, 0, len(x.Drops))
		for k := range x.Drops {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var drops []string
		for _, k := range keys {
			drops = append(drops, fmt.Sprintf("%s=%d", k, x.Drops[k]))
		}
		if x.KernelDrops > 0 {
			drops = append(drops, fmt.Sprintf("kernel=%d", x.KernelDrops))
		}
		per := "-"
		if x.Kind != kindNone && r.ServerPID > 0 {
			per = fmt.Sprintf("%.0f", x.CPUPerGarbageNS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.3f\t%.0f\t%.0f\t%.0f\t%.3f\t%s\t%.2f\t%s\n", x.Kind, x.Rep, x.SentPPS, x.LossPct,
			x.P50US, x.P99US, x.MaxUS, x.CPUCores, per, x.GeneratorCPUCores, strings.Join(drops, " "))
	}
	tw.Flush()
	if rb := r.Rebind; rb != nil {
		fmt.Fprintf(w, "rebind: quiet %v ms; under a forged flood of %.0f/s at its SSRC: %v ms (%d not within the wait); auth attempts %d (%.1f/s), rate-limited %d\n",
			fmtMSList(rb.QuietMS), rb.FloodPPS, fmtMSList(rb.FloodedMS), rb.TimedOut, rb.AuthAttempts, rb.AuthPerSecond, rb.RateLimited)
	}
}

func fmtMSList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return "[" + strings.Join(s, " ") + "]"
}
