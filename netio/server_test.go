package netio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// event is one datagram as a test handler saw it.
type event struct {
	shard int
	data  []byte
	from  netip.AddrPort
	batch int // size of the batch it came in
}

// recHandler records every datagram (copied) and echoes or fans it out.
type recHandler struct {
	sh      *Shard
	events  chan event
	echo    bool
	fanout  []netip.AddrPort
	panicOn byte
}

func (h *recHandler) HandleBatch(now int64, pkts []Packet, q *SendQueue) {
	for _, p := range pkts {
		if h.panicOn != 0 && len(p.Data) > 0 && p.Data[0] == h.panicOn {
			panic("test panic")
		}
		h.events <- event{shard: h.sh.ID(), data: bytes.Clone(p.Data), from: p.From, batch: len(pkts)}
		if h.echo {
			q.Send(p.Data, p.From)
		}
		for _, d := range h.fanout {
			b := q.Buffer()
			n := copy(b, p.Data)
			q.Send(b[:n], d)
		}
	}
}

func (h *recHandler) Tick(int64, *SendQueue) {}

type testServer struct {
	*Server
	events chan event
}

func startServer(t *testing.T, cfg Config, opts Options, tweak func(*recHandler)) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	opts.Logger = quiet
	spareP(t, cfg.Shards)
	events := make(chan event, 100000)
	srv, err := Listen(cfg, func(sh *Shard) Handler {
		h := &recHandler{sh: sh, events: events}
		if tweak != nil {
			tweak(h)
		}
		return h
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testServer{srv, events}
}

// spareP gives the test process a P beyond the shards, as voxd does.
func spareP(t *testing.T, shards int) {
	if prev := runtime.GOMAXPROCS(0); prev <= shards {
		runtime.GOMAXPROCS(shards + 1)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
}

func (ts *testServer) collect(t *testing.T, n int) []event {
	t.Helper()
	out := make([]event, 0, n)
	deadline := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case e := <-ts.events:
			out = append(out, e)
		case <-deadline:
			t.Fatalf("got %d of %d datagrams", len(out), n)
		}
	}
	return out
}

func client(t *testing.T, network string) *net.UDPConn {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "udp6" {
		addr = "[::1]:0"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func recvN(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(out) < n {
		k, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d of %d: %v", len(out), n, err)
		}
		out = append(out, bytes.Clone(buf[:k]))
	}
	return out
}

func TestEcho(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(map[bool]string{false: "batch", true: "portable"}[portable], func(t *testing.T) {
			ts := startServer(t, Config{Shards: 2}, Options{Portable: portable}, func(h *recHandler) { h.echo = true })
			c := client(t, "udp4")
			for i := range 20 {
				send(t, c, ts.LocalAddr(), rtpPacket(uint32(i), uint16(i), 100))
			}
			got := recvN(t, c, 20)
			seen := map[uint32]bool{}
			for _, b := range got {
				seen[binary.BigEndian.Uint32(b[8:])] = true
			}
			if len(seen) != 20 {
				t.Fatalf("echoed %d distinct of 20", len(seen))
			}
			ev := ts.collect(t, 20)
			if ev[0].from != c.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("from %v, want %v", ev[0].from, c.LocalAddr())
			}
			// Counters are added after sendmmsg returns, maybe after the
			// echoes arrived.
			waitFor(t, func() bool { return ts.Stats().TxPackets == 20 })
			st := ts.Stats()
			if st.RxPackets != 20 || st.TxPackets != 20 || st.RxBytes != 2000 || st.TxBytes != 2000 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestIPv6DualStack(t *testing.T) {
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	probe.Close()
	ts := startServer(t, Config{Addr: ":0", Shards: 2}, Options{}, func(h *recHandler) { h.echo = true })
	port := ts.LocalAddr().Port()
	c6 := client(t, "udp6")
	send(t, c6, netip.AddrPortFrom(netip.IPv6Loopback(), port), rtpPacket(6, 1, 50))
	recvN(t, c6, 1)
	c4 := client(t, "udp4")
	send(t, c4, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), rtpPacket(4, 1, 50))
	recvN(t, c4, 1)
	ev := ts.collect(t, 2)
	for _, e := range ev {
		if binary.BigEndian.Uint32(e.data[8:]) == 4 && !e.from.Addr().Is4() {
			t.Fatalf("IPv4 sender reported as %v, want plain IPv4", e.from)
		}
	}
}

func TestSteeringBySSRC(t *testing.T) {
	const shards = 4
	ts := startServer(t, Config{Shards: shards}, Options{}, nil)
	if !ts.Steering() {
		t.Skip("kernel refused SO_ATTACH_REUSEPORT_CBPF")
	}
	to := ts.LocalAddr()
	const ssrcs = 32
	// Every SSRC from three different source ports, RTP and RTCP.
	n := 0
	for port := range 3 {
		c := client(t, "udp4")
		for s := range uint32(ssrcs) {
			ssrc := 0x1000 + s*7919
			send(t, c, to, rtpPacket(ssrc, uint16(port), 80))
			send(t, c, to, rtcpPacket(ssrc, 201))
			n += 2
		}
	}
	used := map[int]bool{}
	for _, e := range ts.collect(t, n) {
		var ssrc uint32
		if e.data[1] >= 192 && e.data[1] <= 223 {
			ssrc = binary.BigEndian.Uint32(e.data[4:])
		} else {
			ssrc = binary.BigEndian.Uint32(e.data[8:])
		}
		if want := ShardOf(ssrc, shards); e.shard != want {
			t.Fatalf("ssrc %#x from %v on shard %d, want %d", ssrc, e.from, e.shard, want)
		}
		used[e.shard] = true
	}
	if len(used) != shards {
		t.Fatalf("only shards %v used", used)
	}
}

func TestHashSpreadsSourcePorts(t *testing.T) {
	// Without steering (and for non-RTP datagrams with it), the kernel's
	// 4-tuple hash spreads source ports over the shards.
	for _, steer := range []bool{false, true} {
		ts := startServer(t, Config{Shards: 2, NoSteering: !steer}, Options{}, nil)
		for range 32 {
			send(t, client(t, "udp4"), ts.LocalAddr(), []byte("not rtp at all"))
		}
		used := map[int]int{}
		for _, e := range ts.collect(t, 32) {
			used[e.shard]++
		}
		if len(used) != 2 {
			t.Fatalf("steering=%v: 32 source ports all on shard(s) %v", steer, used)
		}
	}
}

func TestTruncatedDropped(t *testing.T) {
	for _, portable := range []bool{false, true} {
		ts := startServer(t, Config{Shards: 1, MaxDatagram: 200}, Options{Portable: portable}, nil)
		c := client(t, "udp4")
		send(t, c, ts.LocalAddr(), rtpPacket(1, 1, 201))
		send(t, c, ts.LocalAddr(), rtpPacket(2, 1, 200))
		ev := ts.collect(t, 1)
		if binary.BigEndian.Uint32(ev[0].data[8:]) != 2 || len(ev[0].data) != 200 {
			t.Fatalf("portable=%v: got %d bytes ssrc %d", portable, len(ev[0].data), binary.BigEndian.Uint32(ev[0].data[8:]))
		}
		waitFor(t, func() bool { return ts.Stats().DropTruncated == 1 })
		if st := ts.Stats(); st.RxPackets != 1 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// TestBatchBoundaries holds the shard in its mailbox while datagrams queue
// up in the kernel, then checks how recvmmsg split them.
func TestBatchBoundaries(t *testing.T) {
	for _, c := range []struct {
		send    int
		batches []int
	}{{1, []int{1}}, {64, []int{64}}, {65, []int{64, 1}}, {130, []int{64, 64, 2}}} {
		ts := startServer(t, Config{Shards: 1}, Options{}, nil)
		release := make(chan struct{})
		held := make(chan struct{})
		if err := ts.Shard(0).Post(func(int64, *SendQueue) { close(held); <-release }); err != nil {
			t.Fatal(err)
		}
		<-held
		cl := client(t, "udp4")
		for i := range c.send {
			send(t, cl, ts.LocalAddr(), rtpPacket(7, uint16(i), 60))
		}
		close(release)
		ev := ts.collect(t, c.send)
		var batches []int
		for i := 0; i < len(ev); i += ev[i].batch {
			batches = append(batches, ev[i].batch)
		}
		if !equalInts(batches, c.batches) {
			t.Fatalf("%d datagrams came in batches %v, want %v", c.send, batches, c.batches)
		}
		for i, e := range ev {
			if binary.BigEndian.Uint16(e.data[2:]) != uint16(i) {
				t.Fatalf("datagram %d out of order", i)
			}
		}
	}
}

func TestFanOut(t *testing.T) {
	var dsts []*net.UDPConn
	var addrs []netip.AddrPort
	for range 3 {
		c := client(t, "udp4")
		dsts = append(dsts, c)
		addrs = append(addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	ts := startServer(t, Config{Shards: 2}, Options{}, func(h *recHandler) { h.fanout = addrs })
	src := client(t, "udp4")
	const n = 200
	for i := range n {
		send(t, src, ts.LocalAddr(), rtpPacket(uint32(i%5), uint16(i), 120))
	}
	for _, d := range dsts {
		got := recvN(t, d, n)
		seen := map[uint16]bool{}
		for _, b := range got {
			seen[binary.BigEndian.Uint16(b[2:])] = true
		}
		if len(seen) != n {
			t.Fatalf("destination got %d distinct of %d", len(seen), n)
		}
	}
	waitFor(t, func() bool { return ts.Stats().TxPackets == 3*n })
}

func TestSendErrorsCounted(t *testing.T) {
	// An IPv6 destination on an IPv4 socket cannot be reached: counted, and
	// the good destination in the same batch still gets everything.
	good := client(t, "udp4")
	bad := netip.MustParseAddrPort("[2001:db8::1]:9")
	ts := startServer(t, Config{Shards: 1}, Options{}, func(h *recHandler) {
		h.fanout = []netip.AddrPort{bad, good.LocalAddr().(*net.UDPAddr).AddrPort(), {}}
	})
	src := client(t, "udp4")
	for i := range 10 {
		send(t, src, ts.LocalAddr(), rtpPacket(1, uint16(i), 40))
	}
	recvN(t, good, 10)
	waitFor(t, func() bool { st := ts.Stats(); return st.TxBadAddr == 20 && st.TxPackets == 10 })
}

func TestHandlerPanicRecovered(t *testing.T) {
	ts := startServer(t, Config{Shards: 1}, Options{}, func(h *recHandler) { h.echo = true; h.panicOn = 0xFF })
	c := client(t, "udp4")
	send(t, c, ts.LocalAddr(), []byte{0xFF, 1, 2})
	waitFor(t, func() bool { return ts.Stats().HandlerPanics == 1 })
	send(t, c, ts.LocalAddr(), rtpPacket(3, 3, 30))
	recvN(t, c, 1)
}

func TestMailboxAndTicks(t *testing.T) {
	ts := startServer(t, Config{Shards: 3, TickInterval: time.Millisecond}, Options{}, nil)
	for i := range ts.NumShards() {
		ran := false
		var gotQ *SendQueue
		if err := ts.Shard(i).Do(context.Background(), func(_ int64, q *SendQueue) { ran, gotQ = true, q }); err != nil {
			t.Fatal(err)
		}
		if !ran || gotQ != ts.Shard(i).q {
			t.Fatalf("shard %d: mail ran=%v on queue %p", i, ran, gotQ)
		}
	}
	waitFor(t, func() bool { return ts.Shard(0).Stats().Ticks >= 10 })
	if err := ts.Alive(time.Second); err != nil {
		t.Fatal(err)
	}
	// A wedged shard is reported.
	release := make(chan struct{})
	ts.Shard(1).Post(func(int64, *SendQueue) { <-release })
	waitFor(t, func() bool { return ts.Alive(50*time.Millisecond) != nil })
	close(release)
	waitFor(t, func() bool { return ts.Alive(50*time.Millisecond) == nil })

	ts.Close()
	if err := ts.Shard(0).Post(func(int64, *SendQueue) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Post after Close: %v", err)
	}
	if err := ts.Shard(0).Do(context.Background(), func(int64, *SendQueue) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
	if ts.Alive(time.Hour) == nil {
		t.Fatal("closed server alive")
	}
}

func TestMailboxFull(t *testing.T) {
	ts := startServer(t, Config{Shards: 1, Mailbox: 2}, Options{}, nil)
	release := make(chan struct{})
	held := make(chan struct{})
	ts.Shard(0).Post(func(int64, *SendQueue) { close(held); <-release })
	<-held
	ts.Shard(0).Post(func(int64, *SendQueue) {})
	ts.Shard(0).Post(func(int64, *SendQueue) {})
	if err := ts.Shard(0).Post(func(int64, *SendQueue) {}); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("got %v, want ErrMailboxFull", err)
	}
	close(release)
}

func TestCloseWithTrafficInFlight(t *testing.T) {
	before := runtime.NumGoroutine()
	spareP(t, 2)
	for _, portable := range []bool{false, true} {
		srv, err := Listen(Config{Addr: "127.0.0.1:0", Shards: 2}, func(sh *Shard) Handler {
			return &echoHandler{}
		}, Options{Logger: quiet, Portable: portable})
		if err != nil {
			t.Fatal(err)
		}
		c := client(t, "udp4")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			pkt := rtpPacket(9, 9, 100)
			deadline := time.Now().Add(2 * time.Second)
			for i := 0; i < 200000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				c.WriteToUDPAddrPort(pkt, srv.LocalAddr())
			}
		}()
		waitFor(t, func() bool { return srv.Stats().RxPackets > 100 })
		done := make(chan error)
		go func() { done <- srv.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Close hung with traffic in flight")
		}
		close(stop)
		wg.Wait()
		if err := srv.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if st := srv.Stats(); st.RxPackets > st.TxPackets+st.TxDropFull+st.TxErrors {
			t.Fatalf("phantom datagrams at close: %+v", st)
		}
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{},
		{Addr: "nonsense"},
		{Addr: ":99999"},
		{Addr: "[fe80::1%eth0]:7000"},
		{Addr: ":7000", Shards: MaxShards + 1},
		{Addr: ":7000", BatchSize: MaxBatchSize + 1},
		{Addr: ":7000", MaxDatagram: 10},
		{Addr: ":7000", TickInterval: time.Nanosecond},
		{Addr: ":7000", RecvBuffer: -1},
		{Addr: ":7000", CoalesceBudget: -time.Microsecond},
		{Addr: ":7000", CoalesceBudget: MaxCoalesceBudget + 1},
	}
	for _, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: got %v, want ErrBadConfig", c, err)
		}
	}
	c := Config{Addr: "127.0.0.1:7000"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Shards < 1 || c.BatchSize != 64 || c.MaxDatagram != 1500 || c.TickInterval != DefaultTickInterval {
		t.Fatalf("defaults not filled: %+v", c)
	}
}

// echoHandler sends every datagram back where it came from, allocation free.
type echoHandler struct{}

func (echoHandler) HandleBatch(_ int64, pkts []Packet, q *SendQueue) {
	for _, p := range pkts {
		q.Send(p.Data, p.From)
	}
}
func (echoHandler) Tick(int64, *SendQueue) {}

// TestZeroAllocsPerPacket round-trips batches of datagrams through an echo
// server and counts every heap allocation in the process meanwhile.
func TestZeroAllocsPerPacket(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testZeroAllocsPerPacket(t, 0) })
	t.Run("coalescing", func(t *testing.T) { testZeroAllocsPerPacket(t, 500*time.Microsecond) })
}

func testZeroAllocsPerPacket(t *testing.T, coalesce time.Duration) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	spareP(t, 2)
	srv, err := Listen(Config{Addr: "127.0.0.1:0", Shards: 2, CoalesceBudget: coalesce}, func(*Shard) Handler { return echoHandler{} },
		Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := client(t, "udp4")
	to := srv.LocalAddr()
	pkt := rtpPacket(1234, 1, 120)
	buf := make([]byte, 2048)
	const perRun = 64
	roundTrip := func() {
		for i := range perRun {
			binary.BigEndian.PutUint32(pkt[8:], uint32(i)) // spread over shards
			if _, err := c.WriteToUDPAddrPort(pkt, to); err != nil {
				panic(err)
			}
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for range perRun {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				panic(err)
			}
		}
	}
	roundTrip() // warm up
	const runs = 100
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range runs {
		roundTrip()
	}
	runtime.ReadMemStats(&m1)
	perPacket := float64(m1.Mallocs-m0.Mallocs) / (runs * perRun)
	// SetReadDeadline above may allocate a timer now and then; per packet
	// the server must allocate nothing.
	if perPacket > 0.01 {
		t.Fatalf("%.3f allocations per packet (%d in %d packets)", perPacket, m1.Mallocs-m0.Mallocs, runs*perRun)
	}
	t.Logf("%d allocations in %d round-tripped packets", m1.Mallocs-m0.Mallocs, runs*perRun)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestKernelDropsCounted overflows a small socket buffer while the shard is
// held, then checks SO_RXQ_OVFL reports the drops.
func TestKernelDropsCounted(t *testing.T) {
	ts := startServer(t, Config{Shards: 1, RecvBuffer: 4096}, Options{}, nil)
	release := make(chan struct{})
	held := make(chan struct{})
	ts.Shard(0).Post(func(int64, *SendQueue) { close(held); <-release })
	<-held
	c := client(t, "udp4")
	const flood = 300
	for i := range flood {
		send(t, c, ts.LocalAddr(), rtpPacket(1, uint16(i), 200))
	}
	close(release)
	// Datagrams queued before the overflow carry no drop count; the next
	// one after it does.
	time.Sleep(20 * time.Millisecond)
	send(t, c, ts.LocalAddr(), rtpPacket(1, flood, 200))
	waitFor(t, func() bool { return ts.Stats().KernelDrops > 0 })
	st := ts.Stats()
	if st.RxPackets+st.KernelDrops != flood+1 {
		t.Fatalf("received %d + dropped %d != sent %d", st.RxPackets, st.KernelDrops, flood+1)
	}
}

func TestIdleCloseReceivesNothing(t *testing.T) {
	ts := startServer(t, Config{Shards: 2}, Options{}, nil)
	time.Sleep(10 * time.Millisecond)
	ts.Close()
	if st := ts.Stats(); st.RxPackets != 0 || st.RxBatches != 0 {
		t.Fatalf("closing an idle server received %d datagrams", st.RxPackets)
	}
}

// schedHandler echoes datagrams and is a TickScheduler: NextTick asks for a
// Tick after the delay in next (0: nothing due), and every Tick that follows
// an answer is reported with the answer it follows.
type schedHandler struct {
	next  *atomic.Int64
	asked int64         // NextTick's last answer, 0 after a Tick
	ticks chan idleTick // Ticks that follow an answer
}

type idleTick struct{ now, asked int64 }

func (schedHandler) HandleBatch(_ int64, pkts []Packet, q *SendQueue) {
	for _, p := range pkts {
		q.Send(p.Data, p.From)
	}
}

func (h *schedHandler) Tick(now int64, _ *SendQueue) {
	if h.asked != 0 {
		select {
		case h.ticks <- idleTick{now, h.asked}:
		default:
		}
	}
	h.asked = 0
}

func (h *schedHandler) NextTick(now int64) int64 {
	h.asked = math.MaxInt64
	if d := h.next.Load(); d != 0 {
		h.asked = now + d
	}
	return h.asked
}

// startSched starts a server of schedHandlers with a 1 ms tick and idle
// sleeps without bound, so that a lost wake-up hangs instead of waiting out
// a timeout.
func startSched(t *testing.T, shards int, portable bool, next time.Duration) (*Server, *atomic.Int64, chan idleTick) {
	t.Helper()
	spareP(t, shards)
	nx := new(atomic.Int64)
	nx.Store(int64(next))
	ticks := make(chan idleTick, 1000)
	cfg := Config{Addr: "127.0.0.1:0", Shards: shards, TickInterval: time.Millisecond, maxSleep: time.Hour}
	srv, err := Listen(cfg, func(*Shard) Handler { return &schedHandler{next: nx, ticks: ticks} },
		Options{Logger: quiet, Portable: portable})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, nx, ticks
}

// waitAsleep waits until sh has gone to sleep more than after times, and is
// asleep.
func waitAsleep(t *testing.T, sh *Shard, after uint64) {
	t.Helper()
	waitFor(t, func() bool { return sh.Stats().Sleeps > after && sh.sleeping.Load() })
}

// TestIdleShardSleeps: a shard whose handler has nothing due sleeps (no
// Tick) until a message, a datagram or Close wakes it, and counts as alive
// meanwhile.
func TestIdleShardSleeps(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(fmt.Sprintf("portable=%v", portable), func(t *testing.T) {
			srv, _, _ := startSched(t, 2, portable, 0)
			for i := range srv.NumShards() {
				waitAsleep(t, srv.Shard(i), 0)
			}
			ticks := srv.Stats().Ticks
			time.Sleep(50 * time.Millisecond) // 50 ticks, were the shards awake
			if st := srv.Stats(); st.Ticks != ticks {
				t.Errorf("%d ticks while asleep", st.Ticks-ticks)
			}
			if err := srv.Alive(time.Millisecond); err != nil {
				t.Errorf("asleep, not alive: %v", err)
			}

			// A message wakes the shard (no timeout would).
			for i := range srv.NumShards() {
				sh := srv.Shard(i)
				before := sh.Stats().Sleeps
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				start := time.Now()
				err := sh.Do(ctx, func(int64, *SendQueue) {})
				cancel()
				if err != nil {
					t.Fatalf("Do on a sleeping shard %d: %v", i, err)
				}
				t.Logf("Do on sleeping shard %d: %v", i, time.Since(start))
				waitAsleep(t, sh, before)
			}

			// So does a datagram (SSRC i steers to shard i).
			if !srv.portable && !srv.Steering() {
				t.Skip("no SSRC steering")
			}
			c := client(t, "udp4")
			for i := range srv.NumShards() {
				sh := srv.Shard(i)
				before := sh.Stats().Sleeps
				send(t, c, srv.LocalAddr(), rtpPacket(uint32(i), 1, 20))
				recvN(t, c, 1)
				if sh.Stats().RxPackets != 1 {
					t.Fatalf("shard %d: %+v", i, sh.Stats())
				}
				waitAsleep(t, sh, before)
			}

			// And Close.
			done := make(chan error)
			go func() { done <- srv.Close() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not wake sleeping shards")
			}
		})
	}
}

// TestIdleShardTicksWhenDue: an idle shard ticks when its handler asked, not
// before, and not every TickInterval.
func TestIdleShardTicksWhenDue(t *testing.T) {
	const every = 20 * time.Millisecond
	srv, _, ticks := startSched(t, 1, false, every)
	waitAsleep(t, srv.Shard(0), 0)
	t0 := srv.Stats().Ticks
	// The regular ticks before it fell asleep (every turn asks NextTick).
	for len(ticks) > 0 {
		<-ticks
	}
	deadline := time.After(5 * time.Second)
	for i := range 5 {
		select {
		case tk := <-ticks:
			if tk.now < tk.asked {
				t.Fatalf("tick %d %v before it was due", i, time.Duration(tk.asked-tk.now))
			}
		case <-deadline:
			t.Fatalf("%d ticks of 5 within 5 s", i)
		}
	}
	// 5 ticks at least every apart: at most 5 (and one in progress) since
	// the shard fell asleep, not the 100 or so of a 1 ms tick.
	if n := srv.Stats().Ticks - t0; n > 6 {
		t.Fatalf("%d ticks for 5 due", n)
	}
}

// periodicHandler is a TickScheduler that wants a Tick every period after
// its last one, as a mixer wants its frames (the answer does not move
// with the turns that ask it), and reports every Tick with its lateness.
type periodicHandler struct {
	period int64
	due    int64 // 0 until the first Tick
	ticks  chan int64
}

func (periodicHandler) HandleBatch(int64, []Packet, *SendQueue) {}

func (h *periodicHandler) Tick(now int64, _ *SendQueue) {
	if h.due != 0 && now >= h.due {
		select {
		case h.ticks <- now - h.due:
		default:
		}
	}
	if h.due == 0 || now >= h.due {
		h.due = now + h.period
	}
}

func (h *periodicHandler) NextTick(now int64) int64 {
	if h.due == 0 {
		return now
	}
	return h.due
}

// TestShardTicksWhenAskedWithinATick: a TickScheduler that wants its Tick
// sooner than the next regular one gets it then, not at the regular tick,
// both while datagrams flow and with the socket empty (the shard then
// waits for it precisely).
func TestShardTicksWhenAskedWithinATick(t *testing.T) {
	spareP(t, 1)
	ticks := make(chan int64, 1000)
	// A regular tick of 100 ms: 300 ms would see 3 of them.
	cfg := Config{Addr: "127.0.0.1:0", Shards: 1, TickInterval: 100 * time.Millisecond}
	srv, err := Listen(cfg, func(*Shard) Handler {
		return &periodicHandler{period: int64(2 * time.Millisecond), ticks: ticks}
	}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	count := func(traffic bool) (n int, late []time.Duration) {
		var c *net.UDPConn
		if traffic {
			c = client(t, "udp4")
		}
		end := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(end) {
			if c != nil {
				send(t, c, srv.LocalAddr(), rtpPacket(1, 1, 20))
			}
			time.Sleep(500 * time.Microsecond)
		}
		for len(ticks) > 0 {
			late = append(late, time.Duration(<-ticks))
		}
		return len(late), late
	}
	for _, traffic := range []bool{true, false} {
		// Every ~2 ms: about 150 in 300 ms; a regular tick would give 3.
		n, late := count(traffic)
		slices.Sort(late)
		if n < 30 {
			t.Errorf("traffic %v: %d ticks asked for in 300 ms", traffic, n)
			continue
		}
		t.Logf("traffic %v: %d ticks, lateness median %v, max %v", traffic, n, late[n/2], late[n-1])
	}
}

// TestPostWakeRace posts to a shard as it falls asleep, over and over: every
// message must run without a timeout to help it (sleeps are unbounded).
func TestPostWakeRace(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(fmt.Sprintf("portable=%v", portable), func(t *testing.T) {
			srv, _, _ := startSched(t, 1, portable, 0)
			sh := srv.Shard(0)
			var ran atomic.Int64
			for i := range 30 {
				// Post as soon as the shard announces its sleep, or
				// a little later: before, during or after its last
				// look at the mailbox, or in the sleep.
				for !sh.sleeping.Load() {
					time.Sleep(20 * time.Microsecond)
				}
				for range i % 4 * 100 {
					_ = sh.sleeping.Load()
				}
				if err := sh.Post(func(int64, *SendQueue) { ran.Add(1) }); err != nil {
					t.Fatal(err)
				}
				waitFor(t, func() bool { return ran.Load() == int64(i+1) })
			}
		})
	}
}
