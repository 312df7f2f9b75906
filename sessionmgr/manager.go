package sessionmgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/netio"
)

// Manager is the control plane of the sessions on one pod: it admits and
// removes participants, keeps the books (who is where, counts, limits),
// assigns SSRCs and keys, and hands every change to the owning shard.
//
// Lock order: Manager.mu is never held across a shard call (onShard waits
// for a shard; a shard's goroutine takes mu, e.g. in removed or to commit
// an admission). Shard state is touched only by functions run on the shard
// (engine methods, "shard goroutine only"); Manager files never read or
// write engine fields.
type Manager struct {
	cfg Config

	// enginesMu guards engines while the shards build them (NewHandler);
	// Start freezes the slice, which is read without a lock afterwards
	// (published by closing started).
	enginesMu sync.Mutex
	engines   []*engine
	started   chan struct{}

	mu sync.Mutex // guards everything below
	// srv is the UDP core, set by Start.
	srv *netio.Server
	// The books. sessions by id; a session is on one shard with all its
	// members. bySSRC holds every booking whose SSRC is taken (pending,
	// live, leaving): participants and shardParts count them.
	sessions        map[string]*sessionRec
	bySSRC          map[uint32]*booking
	ssrcs           map[uint32]struct{} // every SSRC in use (participant and server)
	participants    int
	shardParts      []int             // bookings per shard
	shardRooms      []int             // sessions per shard
	nextKey         uint64            // last session key / booking serial given out
	removedBy       map[string]uint64 // participants removed, by reason
	expiredSessions uint64            // PUT sessions ended by their empty timeout
	stopped         string            // non-empty: operator stopped admission, with why
	stoppedNew      string            // non-empty: new sessions stopped (StopNewSessions), with why; joins go on
	held            string            // non-empty: admission held (Hold), with why; apart from stopped
	closed          bool
	cpu             float64 // last CPU percentage given to SetCPU
	cpuFull         bool    // CPU passed the high mark and has not yet fallen below the low one
	draining        bool    // a drain runs (or ran): no new work
	drain           *drainState
	drainedCh       chan struct{} // closed when a drain completes
	lastState       State         // last admission state logged
	lastReason      string
}

// New makes a Manager. Plug its NewHandler into netio.Listen, then call
// Start with the server.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Manager{
		cfg:       cfg,
		lastState: StateAccepting,
		drainedCh: make(chan struct{}),
		started:   make(chan struct{}),
		sessions:  make(map[string]*sessionRec),
		bySSRC:    make(map[uint32]*booking),
		ssrcs:     make(map[uint32]struct{}),
		removedBy: make(map[string]uint64),
	}, nil
}

// NewHandler is the netio.NewHandler of the Manager's shards: it builds
// the shard's engine with its fixed configuration (the shard's datagram
// limit included).
func (m *Manager) NewHandler(sh *netio.Shard) netio.Handler {
	e := m.newEngine(sh, sh.MaxDatagram())
	m.enginesMu.Lock()
	defer m.enginesMu.Unlock()
	for len(m.engines) <= sh.ID() {
		m.engines = append(m.engines, nil)
	}
	m.engines[sh.ID()] = e
	return e
}

// newEngine builds an engine with the Manager's settings for a shard whose
// datagrams are at most maxDatagram bytes (sh may be nil in tests that
// drive an engine without sockets).
func (m *Manager) newEngine(sh *netio.Shard, maxDatagram int) *engine {
	c := m.cfg
	return newEngine(engineConfig{
		probeRate:      c.ProbeRate,
		probeBurst:     c.ProbeBurst,
		joinTimeout:    int64(c.JoinTimeout),
		idleTimeout:    int64(c.IdleTimeout),
		reportInterval: int64(c.ReportInterval),
		maxSpeakers:    c.MaxSpeakers,
		extID:          c.AudioLevelExtensionID,
		maxPlain:       maxDatagram - maxSRTPOverhead,
	}, sh, m.removed)
}

// Start binds the Manager to the UDP core serving its handlers
// (netio.Listen has returned, so every shard has built its engine).
func (m *Manager) Start(srv *netio.Server) error {
	m.enginesMu.Lock()
	n := 0
	for _, e := range m.engines {
		if e != nil && e.shard != nil && e.shard == srv.Shard(e.shard.ID()) {
			n++
		}
	}
	ok := n == srv.NumShards() && len(m.engines) == n
	m.enginesMu.Unlock()
	if !ok {
		return fmt.Errorf("sessionmgr: %d of the server's %d shards run this Manager's handlers", n, srv.NumShards())
	}
	m.mu.Lock()
	if m.srv != nil {
		m.mu.Unlock()
		return errors.New("sessionmgr: already started")
	}
	m.srv = srv
	m.shardParts = make([]int, srv.NumShards())
	m.shardRooms = make([]int, srv.NumShards())
	m.mu.Unlock()
	close(m.started)
	if !srv.Steering() && srv.NumShards() > 1 {
		m.cfg.Logger.Error("SSRC steering is off with several shards: packets of a session may reach a shard that does not own it and be dropped; run with one shard")
	}
	return nil
}

func (m *Manager) ready() error {
	select {
	case <-m.started:
		return nil
	default:
		return fmt.Errorf("%w: not started", ErrClosed)
	}
}

// errNotPosted marks a shard call whose function was never queued (the
// mailbox was full or the server is closing): it will not run.
var errNotPosted = errors.New("not queued on the shard")

// onShard runs f on shard k's goroutine with its engine and waits for it,
// for ctx, or for the server to close. An error wrapping errNotPosted means
// f will never run; any other error means f may still run later. It is the
// only way Manager code reaches shard state. Never call it holding m.mu.
func (m *Manager) onShard(ctx context.Context, k int, f func(now int64, e *engine, q *netio.SendQueue)) error {
	e := m.engines[k]
	done := make(chan struct{})
	if err := e.shard.Post(func(now int64, q *netio.SendQueue) {
		defer close(done)
		f(now, e, q)
	}); err != nil {
		return fmt.Errorf("%w: shard %d: %w", errNotPosted, k, err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-m.srv.Done():
		select {
		case <-done:
			return nil
		default:
			return netio.ErrClosed
		}
	}
}

// postShard queues f on shard k without waiting; false if it could not be
// queued (the janitor retries what must happen).
func (m *Manager) postShard(k int, f func(now int64, e *engine, q *netio.SendQueue)) bool {
	e := m.engines[k]
	return e.shard.Post(func(now int64, q *netio.SendQueue) { f(now, e, q) }) == nil
}

// Status is a snapshot of the pod: admission state, counts, per-shard load
// and counters. It never waits for a shard.
func (m *Manager) Status() Status {
	m.mu.Lock()
	st := Status{
		State:           StateAccepting,
		Sessions:        len(m.sessions),
		Participants:    m.participants,
		Limits:          m.cfg.Limits,
		ExpiredSessions: m.expiredSessions,
	}
	st.State, st.Reason = m.stateLocked()
	st.Accepting = st.State == StateAccepting
	st.CPUPercent = m.cpu
	if m.srv != nil {
		st.Drain = m.drainStatusLocked()
		st.ReconnectNotices = m.noticeCounters().reconnectAPI
	}
	removed := make(map[string]uint64, len(m.removedBy))
	for k, v := range m.removedBy {
		removed[k] = v
	}
	parts := append([]int(nil), m.shardParts...)
	rooms := append([]int(nil), m.shardRooms...)
	srv := m.srv
	m.mu.Unlock()
	if srv == nil {
		return st
	}
	st.Steering = srv.Steering()
	for i, e := range m.engines {
		c := e.counters()
		ns := srv.Shard(i).Stats()
		c.RxPackets, c.RxBytes, c.TxPackets, c.TxBytes = ns.RxPackets, ns.RxBytes, ns.TxPackets, ns.TxBytes
		c.DropTruncated, c.KernelDrops = ns.DropTruncated, ns.KernelDrops
		c.SendErrors = ns.TxDropFull + ns.TxRefused + ns.TxUnreachable + ns.TxErrors + ns.TxBadAddr
		st.Shards = append(st.Shards, ShardStatus{ID: i, Sessions: rooms[i], Participants: parts[i], Counters: c})
		st.Totals = st.Totals.Add(c)
	}
	st.Totals.Removed = removed
	return st
}

// Close stops admitting for good. The UDP core is closed by its owner.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.noteStateLocked()
	m.mu.Unlock()
}

// SetMediaAddr changes the address and port that admissions from now on
// tell clients to send to (under Agones: the GameServer's status address
// and hostPort). An empty addr or a zero port leaves that part unchanged.
func (m *Manager) SetMediaAddr(addr string, port int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr != "" {
		m.cfg.PublicAddr = addr
	}
	if port > 0 && port <= 65535 {
		m.cfg.PublicPort = port
	}
}

func (m *Manager) mediaAddr() MediaAddr {
	m.mu.Lock()
	addr, port := m.cfg.PublicAddr, m.cfg.PublicPort
	local := m.srv.LocalAddr()
	m.mu.Unlock()
	if port == 0 {
		port = int(local.Port())
	}
	if addr == "" {
		a := local.Addr()
		if a.IsUnspecified() {
			a = netip.IPv4Unspecified()
		}
		addr = a.Unmap().String()
	}
	return MediaAddr{Address: addr, Port: port}
}

// Members returns the participant ids of a session's live members, in
// admission order.
func (m *Manager) Members(id string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %q", ErrSessionNotFound, id)
	}
	var ids []string
	for _, b := range s.liveMembers() {
		ids = append(ids, b.id)
	}
	return ids, nil
}

// SendControl builds a plaintext RTCP packet for one participant with build
// (given the participant's server SSRC and a scratch buffer), then encrypts
// and sends it on the owning shard. It reports whether it was sent (false:
// the participant has no latched address yet).
func (m *Manager) SendControl(ctx context.Context, sessionID, participantID string, build func(dst []byte, serverSSRC uint32) []byte) (bool, error) {
	m.mu.Lock()
	s, b, err := m.memberLocked(sessionID, participantID)
	m.mu.Unlock()
	if err != nil {
		return false, err
	}
	sent, found := false, false
	err = m.onShard(ctx, s.shard, func(_ int64, e *engine, q *netio.SendQueue) {
		found, sent = e.sendControl(b.ssrc, b.serial, build, q)
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: %q in %q", ErrParticipantNotFound, participantID, sessionID)
	}
	return sent, err
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "p-" + hex.EncodeToString(b[:])
}

// durationOr returns d, or def when d is 0.
func durationOr(d api.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}
