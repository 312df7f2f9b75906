package agones

import (
	"context"
	"errors"
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
	// Report returns the pod's current load. It must be cheap.
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
	// CounterName is the Counter kept equal to the session count.
	// Default "sessions".
	CounterName string
	// OnAddress is called (on the watch goroutine) with the GameServer's
	// public address and port whenever they change.
	OnAddress func(addr string, port int)
	// OnDeleting is called once (on the watch goroutine) when the
	// GameServer gets a deletion timestamp.
	OnDeleting func()
	Logger     *slog.Logger
}

// Lifecycle is the pod's life as an Agones GameServer: Ready, health
// pings, self-reporting, the GameServer watch (address, deletion),
// self-allocation and Shutdown.
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

	// Owned by the report goroutine.
	written        map[string]string
	writtenCPU     float64
	counter        [2]int64 // count, capacity written
	counterWritten bool
	counterOff     bool
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Lifecycle{c: c, pod: pod, cfg: cfg, log: cfg.Logger, written: map[string]string{},
		reportNow: make(chan struct{}, 1)}
}

// Start marks the GameServer Ready (retrying until ctx is done), then runs
// the health, report and watch loops until Stop. A sidecar that fails later
// is retried in the background: voice never depends on it.
func (l *Lifecycle) Start(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := l.c.Ready(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return err
		}
		if attempt == 0 {
			l.log.Warn("agones: Ready failed; retrying", "err", err)
		}
		if sleep(ctx, time.Second) != nil {
			return err
		}
	}
	l.log.Info("agones: GameServer Ready")
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.wg.Add(3)
	go l.healthLoop(ctx)
	go l.reportLoop(ctx)
	go l.watchLoop(ctx)
	return nil
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
	if !l.counterOff {
		count, capacity := int64(r.Sessions), int64(r.SessionCapacity)
		if !l.counterWritten || l.counter != [2]int64{count, capacity} {
			_, e := l.c.UpdateCounter(ctx, l.cfg.CounterName, CounterUpdate{Count: &count, Capacity: &capacity})
			switch {
			case errors.Is(e, ErrNotFound):
				l.counterOff = true
				l.log.Info("agones: the GameServer declares no Counter; not reporting it", "counter", l.cfg.CounterName)
			case e != nil:
				err = errors.Join(err, e)
			default:
				wrote = true
				l.counter, l.counterWritten = [2]int64{count, capacity}, true
			}
		}
	}
	// A busy pod must never be Ready (deletable on scale-down): allocate
	// it ourselves if no allocator did.
	if r.Sessions > 0 && l.State() == StateReady {
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

func (l *Lifecycle) watchLoop(ctx context.Context) {
	defer l.wg.Done()
	var addr string
	var port int
	err := l.c.WatchGameServer(ctx, func(gs GameServer) {
		st := gs.Status.State
		l.state.Store(&st)
		p, _ := gs.Port(l.cfg.PortName)
		if gs.Status.Address != "" && (gs.Status.Address != addr || p != port) {
			addr, port = gs.Status.Address, p
			l.log.Info("agones: public address", "address", addr, "port", port, "port_name", l.cfg.PortName)
			if l.cfg.OnAddress != nil {
				l.cfg.OnAddress(addr, port)
			}
		}
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
