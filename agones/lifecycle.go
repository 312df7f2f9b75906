package agones

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Report is what a pod tells Agones about itself.
type Report struct {
	Sessions     int
	Participants int
	// CPUPercent is the smoothed CPU use in percent of the container's
	// allowance.
	CPUPercent float64
	Accepting  bool
	// SessionCapacity is the capacity of the sessions Counter (the pod's
	// most sessions).
	SessionCapacity int
}

// Pod is what the lifecycle needs from the server.
type Pod interface {
	// Report returns the pod's current load. It must be cheap (it is
	// called on every watch event and report round, under the Lifecycle's
	// lock) and never call the Lifecycle.
	Report() Report
	// Alive returns nil while the media plane works: health pings are
	// sent only then, so a wedged shard makes Agones replace the pod.
	Alive() error
}

// Label keys vox writes (the sidecar stores them as agones.dev/sdk-<key>).
const (
	LabelSessions     = "vox-sessions"
	LabelParticipants = "vox-participants"
	LabelCPU          = "vox-cpu"
	LabelAccepting    = "vox-accepting"
)

// LifecycleConfig configures a Lifecycle. Zero values mean the defaults.
type LifecycleConfig struct {
	// HealthInterval between health pings. Default 2 s.
	HealthInterval time.Duration
	// ReportInterval is the least time between two rounds of label and
	// counter writes (each is a Kubernetes API write). Default 5 s.
	ReportInterval time.Duration
	// CPUHysteresis is the least change, in percentage points, that
	// rewrites the CPU label. Default 5.
	CPUHysteresis float64
	// PortName is the GameServer port whose hostPort clients use.
	// Default "media".
	PortName string
	// CounterName is the Counter kept equal to the sessions on the pod
	// plus the allocations in flight (see AllocationTimeout). Default
	// "sessions".
	CounterName string
	// AllocationTimeout is how long an allocation the pod has seen (the
	// GameServer's agones.dev/last-allocated annotation changed) counts in
	// the Counter while its session has not arrived. Default 10 s.
	AllocationTimeout time.Duration
	// AddressTimeout is how long Start waits for the GameServer to have an
	// address before it logs an error; Start never calls Ready before the
	// address is known and applied, unless ReadyWithoutAddress. Default
	// 30 s.
	AddressTimeout time.Duration
	// ReadyWithoutAddress lets Start go Ready after AddressTimeout without
	// the GameServer's address, for a pod that has an address of its own
	// to give clients (voxd's --public-addr). Otherwise Start keeps
	// waiting, logging an error every AddressTimeout.
	ReadyWithoutAddress bool
	// OnAddress is called with the GameServer's public address and port
	// when they are first known and whenever they change; calls never
	// overlap. The first call comes before Ready.
	OnAddress func(addr string, port int)
	// OnDeleting is called once (on the watch goroutine) when the
	// GameServer gets a deletion timestamp.
	OnDeleting func()
	Logger     *slog.Logger
}

// Lifecycle is the pod's life as an Agones GameServer: Ready once the
// GameServer's address is known, health pings, self-reporting (labels and
// the sessions Counter, kept at sessions + allocations in flight), the
// GameServer watch (address, deletion, allocations), self-allocation and
// Shutdown.
type Lifecycle struct {
	c   *Client
	pod Pod
	cfg LifecycleConfig
	log *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup

	state      atomic.Pointer[string] // GameServer state from the watch
	deleting   atomic.Bool
	reportNow  chan struct{}
	writeRound atomic.Int64 // report rounds that wrote something

	// addrMu serialises applying an address (Start and the watch).
	addrMu    sync.Mutex
	addr      string
	port      int
	addrKnown chan struct{} // closed once an address is applied

	// mu guards flight (the watch and report goroutines share it).
	mu     sync.Mutex
	flight *inflight

	// Owned by the report goroutine.
	written    map[string]string
	writtenCPU float64
	counterOff atomic.Bool
}

// NewLifecycle makes a Lifecycle; nothing talks to the sidecar until Start.
func NewLifecycle(c *Client, pod Pod, cfg LifecycleConfig) *Lifecycle {
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 2 * time.Second
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = 5 * time.Second
	}
	if cfg.CPUHysteresis <= 0 {
		cfg.CPUHysteresis = 5
	}
	if cfg.PortName == "" {
		cfg.PortName = "media"
	}
	if cfg.CounterName == "" {
		cfg.CounterName = "sessions"
	}
	if cfg.AllocationTimeout <= 0 {
		cfg.AllocationTimeout = 10 * time.Second
	}
	if cfg.AddressTimeout <= 0 {
		cfg.AddressTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// A write of the real sidecar lands within about a second (its queue
	// takes one write per 500 ms); the next report round comes after
	// ReportInterval anyway.
	echo := max(2*time.Second, cfg.ReportInterval)
	return &Lifecycle{c: c, pod: pod, cfg: cfg, log: cfg.Logger, written: map[string]string{},
		reportNow: make(chan struct{}, 1), addrKnown: make(chan struct{}),
		flight: newInflight(cfg.AllocationTimeout, echo)}
}

// Start starts the health pings and the GameServer watch, reads the
// GameServer and applies its address (OnAddress), waiting for the watch to
// bring one if it has none yet (see AddressTimeout), then marks the
// GameServer Ready (retrying) and starts self-reporting; the loops run
// until Stop. Start returns when Ready succeeded, or with an error when ctx
// is done first (the loops are stopped then). Run it on a goroutine of its
// own: voice never waits for the sidecar, and a sidecar that fails later
// is retried in the background.
func (l *Lifecycle) Start(ctx context.Context) error {
	loops, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	// Health pings before Ready: the sidecar counts missed pings from
	// initialDelaySeconds on, whatever the state.
	l.wg.Add(2)
	go l.healthLoop(loops)
	go l.watchLoop(loops)
	if err := l.awaitAddress(ctx); err != nil {
		l.Stop()
		return err
	}
	if err := retry(ctx, l.log, "Ready", l.c.Ready); err != nil {
		l.Stop()
		return err
	}
	l.log.Info("agones: GameServer Ready", "address", l.address())
	l.wg.Add(1)
	go l.reportLoop(loops)
	return nil
}

// retry calls f every second until it succeeds or ctx is done, logging the
// first failure.
func retry(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if attempt == 0 {
			log.Warn("agones: "+what+" failed; retrying", "err", err)
		}
		if sleep(ctx, time.Second) != nil {
			return err
		}
	}
}

// awaitAddress reads the GameServer and applies its address; without one
// (a GameServer not yet on a node) it waits for the watch to bring one.
func (l *Lifecycle) awaitAddress(ctx context.Context) error {
	err := retry(ctx, l.log, "reading the GameServer", func(ctx context.Context) error {
		gs, err := l.c.GameServer(ctx)
		if err == nil {
			l.observe(gs)
		}
		return err
	})
	if err != nil {
		return err
	}
	select {
	case <-l.addrKnown:
		return nil
	default:
	}
	l.log.Info("agones: the GameServer has no address yet; not Ready until the watch brings one",
		"timeout", l.cfg.AddressTimeout)
	t := time.NewTicker(l.cfg.AddressTimeout)
	defer t.Stop()
	for {
		select {
		case <-l.addrKnown:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("agones: waiting for the GameServer's address: %w", context.Cause(ctx))
		case <-t.C:
			if l.cfg.ReadyWithoutAddress {
				l.log.Error("agones: the GameServer still has no address; going Ready with the configured public address",
					"waited", l.cfg.AddressTimeout)
				return nil
			}
			l.log.Error("agones: the GameServer still has no address; still not Ready (clients would be told a wrong address)",
				"waited", l.cfg.AddressTimeout)
		}
	}
}

// address returns the address applied last, "" before any.
func (l *Lifecycle) address() string {
	l.addrMu.Lock()
	defer l.addrMu.Unlock()
	return l.addr
}

// applyAddress applies gs's address and port when they changed.
func (l *Lifecycle) applyAddress(gs GameServer) {
	if gs.Status.Address == "" {
		return
	}
	l.addrMu.Lock()
	defer l.addrMu.Unlock()
	p, ok := gs.Port(l.cfg.PortName)
	if gs.Status.Address == l.addr && p == l.port {
		return
	}
	l.addr, l.port = gs.Status.Address, p
	if !ok {
		l.log.Warn("agones: the GameServer has no such port; clients get the configured port",
			"port_name", l.cfg.PortName)
	}
	l.log.Info("agones: public address", "address", l.addr, "port", l.port, "port_name", l.cfg.PortName)
	if l.cfg.OnAddress != nil {
		l.cfg.OnAddress(l.addr, l.port)
	}
	select {
	case <-l.addrKnown:
	default:
		close(l.addrKnown)
	}
}

// observe takes in a GameServer read or watched: its state, address and
// allocations.
func (l *Lifecycle) observe(gs GameServer) {
	st := gs.Status.State
	l.state.Store(&st)
	l.applyAddress(gs)
	ctr, has := gs.Status.Counters[l.cfg.CounterName]
	l.mu.Lock()
	// Sampled under the lock: two samples applied out of order would
	// look like a session ending and a new one arriving.
	now := time.Now()
	l.flight.sample(now, l.pod.Report().Sessions)
	l.flight.observe(now, gs.ObjectMeta.Annotations[AnnotationLastAllocated],
		counterState{ctr.Count, ctr.Capacity}, has)
	l.mu.Unlock()
}

// InFlight returns the allocations in flight: seen on the pod, their
// session not arrived, not older than AllocationTimeout.
func (l *Lifecycle) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flight.count(time.Now())
}

// Stop ends the loops and waits for them.
func (l *Lifecycle) Stop() {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
}

// Shutdown stops the loops and tells Agones the GameServer is done (the pod
// is then deleted).
func (l *Lifecycle) Shutdown(ctx context.Context) error {
	l.Stop()
	if err := l.c.Shutdown(ctx); err != nil {
		return err
	}
	l.log.Info("agones: Shutdown sent")
	return nil
}

// ReportSoon asks for a report round as soon as the interval allows (e.g.
// after the first session started).
func (l *Lifecycle) ReportSoon() {
	select {
	case l.reportNow <- struct{}{}:
	default:
	}
}

// State is the GameServer state last seen on the watch ("" before).
func (l *Lifecycle) State() string {
	if s := l.state.Load(); s != nil {
		return *s
	}
	return ""
}

// WriteRounds counts report rounds that wrote at least one label or counter.
func (l *Lifecycle) WriteRounds() int64 { return l.writeRound.Load() }

// errLogger logs a failing call once when it starts failing, then at most
// every 30 s, and once when it works again: a dead sidecar must not flood.
type errLogger struct {
	log     *slog.Logger
	what    string
	failing bool
	last    time.Time
}

func (e *errLogger) result(err error) {
	now := time.Now()
	switch {
	case err == nil && e.failing:
		e.log.Info("agones: " + e.what + " works again")
		e.failing = false
	case err != nil && (!e.failing || now.Sub(e.last) > 30*time.Second):
		e.log.Warn("agones: "+e.what+" failing (logged at most every 30 s)", "err", err)
		e.failing, e.last = true, now
	}
}

func (l *Lifecycle) healthLoop(ctx context.Context) {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.HealthInterval)
	defer t.Stop()
	pings := &errLogger{log: l.log, what: "health ping"}
	wedged := false
	for {
		if err := l.pod.Alive(); err != nil {
			if !wedged {
				l.log.Error("agones: media plane not alive; health pings stopped so Agones replaces the pod", "err", err)
				wedged = true
			}
		} else {
			if wedged {
				l.log.Info("agones: media plane alive again; health pings resumed")
				wedged = false
			}
			pings.result(l.c.Health(ctx))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *Lifecycle) reportLoop(ctx context.Context) {
	defer l.wg.Done()
	writes := &errLogger{log: l.log, what: "self-report"}
	var last time.Time
	t := time.NewTicker(l.cfg.ReportInterval)
	defer t.Stop()
	for {
		if wait := l.cfg.ReportInterval - time.Since(last); !last.IsZero() && wait > 0 {
			// A ReportSoon inside the interval waits for its end.
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		wrote, err := l.reportOnce(ctx)
		if wrote {
			l.writeRound.Add(1)
		}
		writes.result(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.reportNow:
		}
	}
}

// reportOnce writes what changed since the last successful write.
func (l *Lifecycle) reportOnce(ctx context.Context) (wrote bool, err error) {
	r := l.pod.Report()
	want := map[string]string{
		LabelSessions:     strconv.Itoa(r.Sessions),
		LabelParticipants: strconv.Itoa(r.Participants),
		LabelAccepting:    strconv.FormatBool(r.Accepting),
	}
	cpu := math.Round(r.CPUPercent)
	if _, ok := l.written[LabelCPU]; !ok || math.Abs(cpu-l.writtenCPU) >= l.cfg.CPUHysteresis {
		want[LabelCPU] = strconv.Itoa(int(cpu))
	}
	for _, k := range []string{LabelSessions, LabelParticipants, LabelCPU, LabelAccepting} {
		v, ok := want[k]
		if !ok || l.written[k] == v {
			continue
		}
		if e := l.c.SetLabel(ctx, k, v); e != nil {
			err = errors.Join(err, e)
			continue
		}
		wrote = true
		l.written[k] = v
		if k == LabelCPU {
			l.writtenCPU = cpu
		}
	}
	if !l.counterOff.Load() {
		w, e := l.writeCounter(ctx, r)
		wrote = wrote || w
		err = errors.Join(err, e)
	}
	// A busy pod must never be Ready (deletable on scale-down): allocate
	// it ourselves if no allocator did.
	if r.Sessions > 0 && l.State() == StateReady {
		l.mu.Lock()
		l.flight.selfAllocated(time.Now())
		l.mu.Unlock()
		if e := l.c.Allocate(ctx); e != nil {
			err = errors.Join(err, e)
		} else {
			l.log.Info("agones: self-allocated (sessions running on a Ready GameServer)")
			s := StateAllocated
			l.state.Store(&s)
		}
	}
	return wrote, err
}

// writeCounter writes the Counter's absolute count, sessions + allocations
// in flight (capped by the capacity), and its capacity, when the Counter
// does not hold them already. An undeclared Counter (either sidecar's
// wording, see ErrNotFound) stops the writes for good, logged once.
func (l *Lifecycle) writeCounter(ctx context.Context, r Report) (wrote bool, err error) {
	l.mu.Lock()
	now := time.Now()
	sessions := l.pod.Report().Sessions // under the lock, see observe
	l.flight.sample(now, sessions)
	want := counterState{capacity: int64(r.SessionCapacity)}
	want.count = min(int64(sessions+l.flight.count(now)), want.capacity)
	have, known := l.flight.counter()
	if known && have == want {
		l.mu.Unlock()
		return false, nil
	}
	// Recorded before it is sent: it may land even if the answer is lost.
	l.flight.wrote(now, want)
	l.mu.Unlock()
	_, err = l.c.UpdateCounter(ctx, l.cfg.CounterName, CounterUpdate{Count: &want.count, Capacity: &want.capacity})
	switch {
	case errors.Is(err, ErrNotFound):
		l.counterOff.Store(true)
		l.log.Info("agones: the GameServer declares no Counter; not reporting it", "counter", l.cfg.CounterName, "err", err)
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

func (l *Lifecycle) watchLoop(ctx context.Context) {
	defer l.wg.Done()
	err := l.c.WatchGameServer(ctx, func(gs GameServer) {
		l.observe(gs)
		if gs.Deleting() && l.deleting.CompareAndSwap(false, true) {
			l.log.Info("agones: GameServer is being deleted")
			if l.cfg.OnDeleting != nil {
				l.cfg.OnDeleting()
			}
		}
	})
	if err != nil && ctx.Err() == nil {
		l.log.Warn("agones: watch ended", "err", err)
	}
}
