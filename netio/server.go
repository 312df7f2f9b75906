package netio

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// shardConn is one shard's socket, as the platform provides it. recv, sleep
// and send are called only by the shard's goroutine; wake by Post, shutdown
// and close by Server.Close.
type shardConn interface {
	// recv blocks until datagrams arrive or the tick interval passes,
	// fills pkts and returns how many it filled (0 on a timeout).
	// Truncated datagrams are counted in c and not returned. A non-nil
	// error means the socket failed.
	recv(pkts []Packet, c *counters) (int, error)
	// sleep is recv for an idle shard: it waits up to d (longer than the
	// tick interval) and also returns, with 0, when wake is called, even
	// if wake was called after the sleep began but before it blocked.
	sleep(pkts []Packet, c *counters, d time.Duration) (int, error)
	// send transmits q's queued datagrams and empties q.
	send(q *SendQueue, c *counters)
	// pause waits d nanoseconds before the next receive (receive
	// coalescing), keeping the shard's thread; it may end early.
	pause(d int64)
	// wake makes a sleep in progress or the next one return promptly. It
	// may be called from any goroutine.
	wake()
	// shutdown makes every recv and sleep from now on return promptly;
	// the conn stays open.
	shutdown()
	close() error
}

// Mail is a control message run on a shard's goroutine between batches. It
// may read and change state the shard's Handler owns and queue datagrams.
type Mail func(now int64, q *SendQueue)

// Server is a set of shards serving one UDP address.
type Server struct {
	cfg      Config
	log      *slog.Logger
	local    netip.AddrPort
	steering bool
	portable bool
	shards   []*Shard

	closing   atomic.Bool
	stopped   chan struct{} // closed when every shard loop has returned
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	lastPanicLog atomic.Int64
}

// Shard is one socket of a Server and the goroutine that owns it.
type Shard struct {
	id      int
	srv     *Server
	conn    shardConn
	q       *SendQueue
	mailbox chan Mail
	c       counters

	// sleeping is set while the shard sleeps (or is about to) past the
	// tick interval: Post must then wake it.
	sleeping atomic.Bool
}

// Options are a Server's optional parts.
type Options struct {
	// Logger receives the server's few log lines (start, steering, socket
	// buffer warnings, handler panics). Default slog.Default().
	Logger *slog.Logger
	// Portable forces the portable single-socket implementation, which is
	// what non-Linux builds always use. For tests and comparison.
	Portable bool
}

// Listen opens the shards' sockets on cfg.Addr and starts one goroutine per
// shard, each with its own Handler from newHandler. It returns once every
// shard has built its Handler (and not before), so whatever newHandler set
// up is complete when Listen returns. cfg is validated (and its defaults
// filled in) first.
func Listen(cfg Config, newHandler NewHandler, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: opts.Logger, stopped: make(chan struct{})}
	var (
		conns []shardConn
		err   error
	)
	if opts.Portable || !haveBatchIO {
		s.cfg.Shards = 1
		s.portable = true
		conns, s.local, err = openPortable(&s.cfg)
	} else {
		conns, s.local, s.steering, err = openBatch(&s.cfg, s.log)
	}
	if err != nil {
		return nil, err
	}
	s.shards = make([]*Shard, len(conns))
	for i, c := range conns {
		sh := &Shard{id: i, srv: s, conn: c, mailbox: make(chan Mail, s.cfg.Mailbox)}
		sh.q = newSendQueue(s.cfg.SendQueue, s.cfg.MaxDatagram, sh.flush)
		sh.c.lastLoop.Store(Now())
		s.shards[i] = sh
	}
	if !s.portable && runtime.GOMAXPROCS(0) <= len(s.shards) {
		s.log.Warn("GOMAXPROCS is not above the shard count: every shard holds a P while it waits for packets, so the rest of the process (admin API, GC) only runs when a shard yields; give it GOMAXPROCS = shards + 1",
			"gomaxprocs", runtime.GOMAXPROCS(0), "shards", len(s.shards))
	}
	// Each shard builds its handler on its own goroutine; Listen returns
	// only once every handler exists, so a caller never sees a shard
	// serving packets with a handler still being made.
	built := make(chan struct{}, len(s.shards))
	s.wg.Add(len(s.shards))
	for _, sh := range s.shards {
		go sh.run(newHandler, built)
	}
	for range s.shards {
		<-built
	}
	go func() { s.wg.Wait(); close(s.stopped) }()
	s.log.Info("udp listening", "addr", s.local.String(), "shards", len(s.shards),
		"batch", s.cfg.BatchSize, "steering", s.steering, "portable", s.portable)
	return s, nil
}

// LocalAddr is the bound address (with the port chosen, if Addr asked for 0).
func (s *Server) LocalAddr() netip.AddrPort { return s.local }

// NumShards is the number of shards.
func (s *Server) NumShards() int { return len(s.shards) }

// Shard returns shard i.
func (s *Server) Shard(i int) *Shard { return s.shards[i] }

// Steering reports whether packets are steered by SSRC (ShardOf). When false
// the kernel spreads them by 4-tuple hash and the caller must not rely on
// ShardOf.
func (s *Server) Steering() bool { return s.steering }

// Config returns the validated configuration in use.
func (s *Server) Config() Config { return s.cfg }

// Stats returns the sum of every shard's counters.
func (s *Server) Stats() Stats {
	var t Stats
	for _, sh := range s.shards {
		t = t.Add(sh.Stats())
	}
	return t
}

// Alive returns nil when every shard completed a loop turn within maxStall
// or is sleeping idle, else an error naming the first stalled shard. A busy
// shard turns at least every TickInterval, so a stall means a wedged
// handler or socket.
func (s *Server) Alive(maxStall time.Duration) error {
	now := Now()
	for _, sh := range s.shards {
		// sleeping first: a shard back from a sleep stamps its turn
		// before it clears the flag.
		if sh.sleeping.Load() {
			continue
		}
		if age := time.Duration(now - sh.c.lastLoop.Load()); age > maxStall {
			return fmt.Errorf("netio: shard %d stalled for %v", sh.id, age.Round(time.Millisecond))
		}
	}
	select {
	case <-s.stopped:
		return ErrClosed
	default:
	}
	return nil
}

// Done is closed once every shard has stopped.
func (s *Server) Done() <-chan struct{} { return s.stopped }

// Close stops every shard, waits for their goroutines to return, then closes
// the sockets. It is safe to call more than once and from any goroutine.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		for _, sh := range s.shards {
			sh.conn.shutdown()
		}
		<-s.stopped
		for _, sh := range s.shards {
			if err := sh.conn.close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// ID is the shard's index, the value ShardOf returns for its SSRCs.
func (sh *Shard) ID() int { return sh.id }

// NumShards is the number of shards of the shard's server.
func (sh *Shard) NumShards() int { return len(sh.srv.shards) }

// MaxDatagram is the largest datagram the shard receives or sends
// (Config.MaxDatagram): a handler sizes what it builds by it.
func (sh *Shard) MaxDatagram() int { return sh.srv.cfg.MaxDatagram }

// Stats returns a snapshot of the shard's counters, without locking.
func (sh *Shard) Stats() Stats { return sh.c.snapshot() }

// Post queues m to run on the shard's goroutine between batches (within
// about TickInterval; a sleeping idle shard is woken for it). It never
// blocks: it fails with ErrMailboxFull when the mailbox is full and
// ErrClosed once the server is closing.
func (sh *Shard) Post(m Mail) error {
	if sh.srv.closing.Load() {
		return ErrClosed
	}
	select {
	case sh.mailbox <- m:
	default:
		return ErrMailboxFull
	}
	// The shard sets sleeping before it last looks at the mailbox, and
	// m was queued before this load: either the shard sees m, or this
	// sees the flag (and the conn's wake-up is level-triggered).
	if sh.sleeping.Load() {
		sh.conn.wake()
	}
	return nil
}

// Do runs m on the shard's goroutine and waits until it has run, ctx is
// done, or the server closes.
func (sh *Shard) Do(ctx context.Context, m Mail) error {
	done := make(chan struct{})
	if err := sh.Post(func(now int64, q *SendQueue) {
		defer close(done)
		m(now, q)
	}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-sh.srv.stopped:
		select {
		case <-done:
			return nil
		default:
			return ErrClosed
		}
	}
}

// idleTurns is how many loop turns in a row without a datagram or a message
// make a shard idle, so that it may sleep past the tick (100 ms at the
// default tick). Long enough that a trickle of traffic never pays for the
// switch between the two ways of waiting.
const idleTurns = 20

// run is the shard's loop: receive a batch, hand it to the handler, run the
// mailbox and timers, flush the send queue; until the server closes.
func (sh *Shard) run(newHandler NewHandler, built chan<- struct{}) {
	defer sh.srv.wg.Done()
	cfg := &sh.srv.cfg
	coal := newCoalescer(0, cfg.BatchSize)
	if !sh.srv.portable {
		coal = newCoalescer(cfg.CoalesceBudget, cfg.BatchSize)
	}
	if !cfg.NoLockOSThread && !sh.srv.portable {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if coal.budget != 0 {
			// The thread is the shard's for good: keep its pauses
			// close to what they ask (the default slack is 50 µs).
			setTimerSlack(min(max(cfg.CoalesceBudget/16, time.Microsecond), 50*time.Microsecond))
		}
	}
	h := newHandler(sh)
	built <- struct{}{}
	sched, _ := h.(TickScheduler)
	pkts := make([]Packet, cfg.BatchSize)
	tick := int64(cfg.TickInterval)
	lastTick := Now()
	now := lastTick
	quiet := 0 // turns in a row without a datagram or a message
	failures := 0
	lastN := 0 // datagrams the previous turn received
	// asked is a TickScheduler's answer at the end of the last turn (one
	// NextTick call per turn); schedNext is the same when it was in the
	// future (else MaxInt64): the shard ticks then, besides every
	// TickInterval, and waits for it precisely when it is less than a
	// tick away and the socket was empty.
	asked, schedNext := int64(math.MaxInt64), int64(math.MaxInt64)
	for !sh.srv.closing.Load() {
		var (
			n    int
			err  error
			busy bool // a datagram or a message this turn
		)
		if d := coal.pause(now, lastN); d != 0 {
			sh.c.coalescePauses.Add(1)
			sh.conn.pause(d)
		}
		due := sh.idleDue(sched != nil, asked, now, quiet)
		if due == 0 && lastN == 0 && schedNext > now && schedNext-now < tick {
			due = schedNext
		}
		if due != 0 {
			n, busy, err = sh.sleep(pkts, now, min(due, now+int64(cfg.maxSleep)))
		} else {
			n, err = sh.conn.recv(pkts, &sh.c)
		}
		now = Now()
		coal.received(now, n)
		lastN = n
		if err != nil {
			sh.c.recvErrors.Add(1)
			if failures++; failures > 3 {
				// A persistently failing socket must not spin a core.
				time.Sleep(time.Millisecond)
			}
		} else {
			failures = 0
		}
		if n == 0 && err == nil && due == 0 {
			// Idle turn (receive timeout). A shard keeps its P while it
			// blocks in recv (see batch_linux.go), so yield it now and
			// then: other goroutines are due a turn anyway. (A sleep
			// gives the P back by itself.)
			runtime.Gosched()
		}
		if n > 0 {
			busy = true
			sh.c.rxBatches.Add(1)
			sh.c.rxPackets.Add(uint64(n))
			var bytes uint64
			for i := range pkts[:n] {
				bytes += uint64(len(pkts[i].Data))
			}
			sh.c.rxBytes.Add(bytes)
			sh.safely(func() { h.HandleBatch(now, pkts[:n], sh.q) })
			clear(pkts[:n]) // drop references into buffers
		}
		if sh.runMailbox(now) > 0 {
			busy = true
		}
		if busy || err != nil {
			// After an error, receive as usual for a while: a
			// failing sleep must not keep the shard from its
			// datagrams.
			quiet = 0
		} else {
			quiet = min(quiet+1, idleTurns)
		}
		// After a sleep, Tick runs when it was due, not on a spurious
		// wake-up; the first busy turn after it ticks anyway.
		if due == 0 && (now-lastTick >= tick || now >= schedNext) || due != 0 && now >= due {
			lastTick = now
			sh.c.ticks.Add(1)
			sh.safely(func() { h.Tick(now, sh.q) })
		}
		if sched != nil {
			asked, schedNext = sched.NextTick(now), math.MaxInt64
			if asked > now {
				schedNext = asked
			}
		}
		if sh.q.n > 0 {
			sh.flush(sh.q)
		}
		if coal.budget != 0 {
			now = Now() // the pause counts the turn's own time
		}
		sh.c.lastLoop.Store(now)
	}
	if c, ok := h.(Closer); ok {
		sh.safely(c.Close)
	}
}

// idleDue returns when the handler's next Tick is due (asked: its last
// NextTick answer) if the shard may sleep until then (at most
// Config.maxSleep at a time), or 0 when it should receive as usual, waiting
// at most a tick: only a TickScheduler's shard sleeps, once idle, and only
// when that Tick is more than a tick away.
func (sh *Shard) idleDue(scheduler bool, asked, now int64, quiet int) int64 {
	if !scheduler || quiet < idleTurns {
		return 0
	}
	if asked-now <= int64(sh.srv.cfg.TickInterval) {
		return 0
	}
	return asked
}

// sleep waits, as conn.sleep does, until a datagram arrives, a message is
// posted, the server closes or until passes, and returns what it received.
// ran reports that it ran a message instead, one posted before the shard
// announced its sleep.
func (sh *Shard) sleep(pkts []Packet, now, until int64) (n int, ran bool, err error) {
	sh.sleeping.Store(true)
	// Post wakes the shard only if it sees the flag, so look at the
	// mailbox once more after setting it.
	select {
	case m := <-sh.mailbox:
		sh.sleeping.Store(false)
		sh.runMail(now, m)
		return 0, true, nil
	default:
	}
	sh.c.sleeps.Add(1)
	n, err = sh.conn.sleep(pkts, &sh.c, time.Duration(until-now))
	// Back from the kernel: a fresh turn for Alive, stamped before the
	// flag is cleared.
	sh.c.lastLoop.Store(Now())
	sh.sleeping.Store(false)
	return n, false, err
}

// runMailbox runs the queued control messages, a bounded number per turn so
// a flood of them cannot starve the packets, and returns how many ran.
func (sh *Shard) runMailbox(now int64) int {
	for i := range 64 {
		select {
		case m := <-sh.mailbox:
			sh.runMail(now, m)
		default:
			return i
		}
	}
	return 64
}

// runMail runs one control message.
func (sh *Shard) runMail(now int64, m Mail) {
	sh.c.mailboxRuns.Add(1)
	sh.safely(func() { m(now, sh.q) })
}

// safely runs f and turns a panic into a counted, rate-limited log line: one
// bad packet or bug must not take every voice session of the pod down.
func (sh *Shard) safely(f func()) {
	defer func() {
		if r := recover(); r != nil {
			sh.c.handlerPanics.Add(1)
			now := Now()
			last := sh.srv.lastPanicLog.Load()
			if now-last > int64(10*time.Second) && sh.srv.lastPanicLog.CompareAndSwap(last, now) {
				buf := make([]byte, 4096)
				buf = buf[:runtime.Stack(buf, false)]
				sh.srv.log.Error("handler panic (recovered; further ones counted, logged at most every 10 s)",
					"shard", sh.id, "panic", fmt.Sprint(r), "stack", string(buf))
			}
		}
	}()
	f()
}

func (sh *Shard) flush(q *SendQueue) {
	if q.n == 0 {
		return
	}
	sh.conn.send(q, &sh.c)
	clear(q.pkts[:q.n])
	q.n = 0
}
