// Package simfleet is a simulated Agones fleet of real voxd pods on
// loopback, for voxrouter --local-fleet, voxbench route and the tests.
//
// Each GameServer is a real in-process voxd pod (UDP core, session
// manager, admin API) that runs voxd's own Agones lifecycle (package
// agones: Ready, health, the vox-* labels, the sessions Counter kept at
// sessions + allocations in flight, self-allocation) against an SDK
// sidecar double (agonestest.Sidecar, one per pod, holding the
// GameServer's state), and reports itself to the router (podreport) with
// its GameServer state, as voxd --router does.
//
// Around the pods: a FleetAutoscaler (Buffer policy) that keeps Buffer
// GameServers Ready, new ones taking StartDelay before they are, never
// removing an Allocated one; and an allocator (Allocator) that batches
// like Agones v1.56's (pkg/gameserverallocations/allocator.go,
// ListenAndAllocate): see allocator.go.
package simfleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/podreport"
	"github.com/voxfleet/vox/sessionmgr"
)

// Defaults of Config's zero fields.
const (
	DefaultFleet          = "vox"
	DefaultBuffer         = 2
	DefaultMaxReplicas    = 64
	DefaultStartDelay     = 2 * time.Second
	DefaultSyncPeriod     = time.Second
	DefaultBatchWait      = 500 * time.Millisecond
	DefaultReportInterval = time.Second
	// CounterName is the Counter the Fleet declares and allocations
	// increment (voxd's LifecycleConfig.CounterName default).
	CounterName = "sessions"
)

// ErrBadConfig wraps the configuration errors of Start.
var ErrBadConfig = errors.New("simfleet: bad config")

// ErrNoPod: Kill was given a name the fleet does not hold.
var ErrNoPod = errors.New("simfleet: no such pod")

// Config configures a Fleet.
type Config struct {
	// RouterURL is where the pods report (voxd --router); ReportToken the
	// router's report token, AdminToken the pods' admin token.
	RouterURL, ReportToken, AdminToken string
	// Fleet names the Fleet (GameServers are Fleet-NNN); Pool the router's
	// pool the pods report in ("default").
	Fleet, Pool string
	// Replicas are the pods started at once (Ready without StartDelay).
	Replicas int
	// Buffer is the FleetAutoscaler's Ready buffer (Buffer policy,
	// bufferSize in GameServers); -1 turns the autoscaler off.
	Buffer int
	// MaxReplicas caps the Fleet.
	MaxReplicas int
	// StartDelay is how long a new pod takes to be Ready (scheduling,
	// image pull, start); SyncPeriod the autoscaler's period (Agones: 30 s).
	StartDelay, SyncPeriod time.Duration
	// BatchWait is the allocator's allocationBatchWaitTime (500 ms).
	BatchWait time.Duration
	// ReportInterval is the pods' report period to the router, and their
	// label and Counter writes to Agones.
	ReportInterval time.Duration
	// Limits of each pod (sessionmgr's defaults when zero).
	Limits sessionmgr.Limits
	// Logger receives the fleet's lines; the pods' own are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Fleet == "" {
		c.Fleet = DefaultFleet
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.MaxReplicas == 0 {
		c.MaxReplicas = DefaultMaxReplicas
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.StartDelay, DefaultStartDelay)
	def(&c.SyncPeriod, DefaultSyncPeriod)
	def(&c.BatchWait, DefaultBatchWait)
	def(&c.ReportInterval, DefaultReportInterval)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Fleet is a running simulated fleet. Its methods are safe for
// concurrent use.
type Fleet struct {
	cfg   Config
	log   *slog.Logger
	quiet *slog.Logger
	alloc *Allocator

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// stateMu orders the allocator's and the autoscaler's state changes
	// (a Ready pod is either allocated or removed, never both).
	stateMu sync.Mutex

	mu     sync.Mutex // guards pods, next, closed
	pods   map[string]*Pod
	next   int
	closed bool
}

// Pod is one GameServer of the fleet and its voxd.
type Pod struct {
	// Name is the GameServer's (and the pod's reported) name.
	Name string
	// Sidecar holds the GameServer (state, labels, Counter).
	Sidecar *agonestest.Sidecar

	mu       sync.Mutex // guards the fields below
	started  bool       // voxd runs (after StartDelay)
	manager  *sessionmgr.Manager
	adminURL string
	stop     func() // stops voxd; nil before it started or after
}

// PodInfo is a pod as Pods lists it.
type PodInfo struct {
	Name     string
	State    string // the GameServer's: Scheduled (starting), Ready, Allocated, Shutdown
	AdminURL string // "" while starting
	Sessions int
	Counter  agones.Counter
}

// New makes a fleet with its allocator running and no pod yet (the
// router takes the allocator before it listens; Run starts the pods once
// it does). Close it.
func New(cfg Config) (*Fleet, error) {
	cfg = cfg.withDefaults()
	if cfg.Replicas < 0 || cfg.Replicas > cfg.MaxReplicas || cfg.Buffer < -1 {
		return nil, fmt.Errorf("%w: want 0 ≤ replicas ≤ max replicas and buffer ≥ -1", ErrBadConfig)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{cfg: cfg, log: cfg.Logger, quiet: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ctx: ctx, cancel: cancel, pods: map[string]*Pod{}}
	f.alloc = newAllocator(f, cfg.BatchWait)
	f.wg.Go(func() { f.alloc.listen(ctx) })
	return f, nil
}

// Start is New then Run(cfg.RouterURL).
func Start(cfg Config) (*Fleet, error) {
	f, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := f.Run(cfg.RouterURL); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Run starts Replicas pods reporting to routerURL, and the autoscaler;
// they run until Close. Call it once.
func (f *Fleet) Run(routerURL string) error {
	if routerURL == "" {
		return fmt.Errorf("%w: no router URL", ErrBadConfig)
	}
	f.mu.Lock()
	f.cfg.RouterURL = routerURL
	f.mu.Unlock()
	for range f.cfg.Replicas {
		if _, err := f.add(0); err != nil {
			return err
		}
	}
	if f.cfg.Buffer >= 0 {
		f.wg.Go(f.autoscale)
	}
	return nil
}

// Allocator returns the fleet's allocator (router.Allocator).
func (f *Fleet) Allocator() *Allocator { return f.alloc }

// Close stops every pod, the autoscaler and the allocator.
func (f *Fleet) Close() {
	f.mu.Lock()
	f.closed = true
	pods := make([]*Pod, 0, len(f.pods))
	for _, p := range f.pods {
		pods = append(pods, p)
	}
	f.mu.Unlock()
	f.cancel()
	for _, p := range pods {
		p.halt()
		p.Sidecar.Close()
	}
	f.wg.Wait()
}

// Pods lists the fleet's pods by name.
func (f *Fleet) Pods() []PodInfo {
	f.mu.Lock()
	pods := make([]*Pod, 0, len(f.pods))
	for _, p := range f.pods {
		pods = append(pods, p)
	}
	f.mu.Unlock()
	out := make([]PodInfo, 0, len(pods))
	for _, p := range pods {
		gs := p.Sidecar.GameServer()
		info := PodInfo{Name: p.Name, State: gs.Status.State, Counter: gs.Status.Counters[CounterName]}
		p.mu.Lock()
		if p.manager != nil {
			info.AdminURL, info.Sessions = p.adminURL, p.manager.Status().Sessions
		}
		p.mu.Unlock()
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PodInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Kill ends pod name at once, as a crashed or evicted pod: it stops
// answering and reporting, and its GameServer is deleted (the autoscaler
// replaces it).
func (f *Fleet) Kill(name string) error {
	f.mu.Lock()
	p := f.pods[name]
	delete(f.pods, name)
	f.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: %q", ErrNoPod, name)
	}
	p.halt()
	p.Sidecar.SetState(agones.StateShutdown)
	p.Sidecar.Close()
	f.log.Info("simfleet: pod killed", "pod", name)
	return nil
}

// add creates a GameServer whose voxd starts after delay.
func (f *Fleet) add(delay time.Duration) (*Pod, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, errors.New("simfleet: closed")
	}
	f.next++
	name := fmt.Sprintf("%s-%03d", f.cfg.Fleet, f.next)
	p := &Pod{Name: name, Sidecar: agonestest.NewSidecar(agonestest.WithName(name))}
	f.pods[name] = p
	f.mu.Unlock()
	// The Fleet's template declares the Counter (capacity: voxd writes its
	// own at its first report round).
	p.Sidecar.DeclareCounter(CounterName, 0, 0)
	if delay == 0 {
		return p, f.boot(p)
	}
	f.wg.Go(func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		if err := f.boot(p); err != nil {
			f.log.Warn("simfleet: a pod failed to start", "pod", name, "err", err)
		}
	})
	return p, nil
}

// boot starts p's voxd: UDP core, session manager, admin API, the Agones
// lifecycle (Ready) and the reporter.
func (f *Fleet) boot(p *Pod) (err error) {
	var stops []func()
	defer func() {
		if err != nil {
			for _, s := range slices.Backward(stops) {
				s()
			}
		}
	}()
	// DrainExit: an operator's (or the router's) drain ends the pod, as
	// voxd does under Agones.
	m, err := sessionmgr.New(sessionmgr.Config{Logger: f.quiet, Limits: f.cfg.Limits, DrainExit: true})
	if err != nil {
		return fmt.Errorf("simfleet: %s: %w", p.Name, err)
	}
	// One shard: many pods share the machine. (The default tick: the
	// session manager's admissions wait for the shard's turn.)
	udp, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1},
		m.NewHandler, netio.Options{Logger: f.quiet})
	if err != nil {
		return fmt.Errorf("simfleet: %s: %w", p.Name, err)
	}
	stops = append(stops, func() { udp.Close() })
	if err := m.Start(udp); err != nil {
		return fmt.Errorf("simfleet: %s: %w", p.Name, err)
	}
	a, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Token: f.cfg.AdminToken, Logger: f.quiet}, m)
	if err != nil {
		return fmt.Errorf("simfleet: %s: %w", p.Name, err)
	}
	if err := a.Start(); err != nil {
		return fmt.Errorf("simfleet: %s: %w", p.Name, err)
	}
	stops = append(stops, func() { _ = a.Shutdown(context.Background()) })
	port := udp.LocalAddr().Port()
	p.Sidecar.SetAddress("127.0.0.1", []agones.Port{{Name: agonestest.DefaultPortName, Port: int32(port)}})
	c, err := agones.New(p.Sidecar.URL(), agones.Config{Logger: f.quiet})
	if err != nil {
		return fmt.Errorf("simfleet: %s: %w", p.Name, err)
	}
	lc := agones.NewLifecycle(c, voxdPod{m: m, udp: udp}, agones.LifecycleConfig{
		ReportInterval: f.cfg.ReportInterval, Logger: f.quiet,
		OnAddress: func(addr string, port int) { m.SetMediaAddr(addr, port) },
	})
	ctx, cancel := context.WithCancel(f.ctx)
	stops = append(stops, cancel)
	if err := lc.Start(ctx); err != nil {
		return fmt.Errorf("simfleet: %s: Ready: %w", p.Name, err)
	}
	stops = append(stops, lc.Stop)
	f.mu.Lock()
	routerURL := f.cfg.RouterURL
	f.mu.Unlock()
	rep, err := podreport.New(podreport.Config{RouterURL: routerURL, Token: f.cfg.ReportToken, Name: p.Name,
		Pool: f.cfg.Pool, AdminURL: "http://" + a.Addr(), Source: podreport.FromManager(m, lc.State),
		Interval: f.cfg.ReportInterval, Logger: f.quiet})
	if err != nil {
		return fmt.Errorf("simfleet: %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { defer close(done); rep.Run(ctx) }()
	stops = append(stops, func() { cancel(); <-done })
	p.mu.Lock()
	p.started, p.manager, p.adminURL = true, m, "http://"+a.Addr()
	p.stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	p.mu.Unlock()
	if f.ctx.Err() != nil {
		p.halt() // the fleet closed while this pod started
	}
	f.wg.Go(func() { f.exitWhenDrained(ctx, p, m) })
	return nil
}

// exitWhenDrained ends p once its drain is over when the drain asked to
// exit (voxd: Shutdown, then the process exits; Agones deletes the
// GameServer and the Fleet shrinks).
func (f *Fleet) exitWhenDrained(ctx context.Context, p *Pod, m *sessionmgr.Manager) {
	select {
	case <-ctx.Done():
		return
	case <-m.Drained():
	}
	if !m.DrainExit() {
		return
	}
	f.mu.Lock()
	if f.pods[p.Name] == p {
		delete(f.pods, p.Name)
	}
	f.mu.Unlock()
	p.Sidecar.SetState(agones.StateShutdown)
	p.halt()
	p.Sidecar.Close()
	f.log.Info("simfleet: pod drained and shut down", "pod", p.Name)
}

// halt stops p's voxd (if it runs).
func (p *Pod) halt() {
	p.mu.Lock()
	stop := p.stop
	p.stop, p.manager = nil, nil
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// voxdPod is what voxd's Agones lifecycle reads of the pod (as cmd/voxd's
// pod type).
type voxdPod struct {
	m   *sessionmgr.Manager
	udp *netio.Server
}

func (p voxdPod) Report() agones.Report {
	st := p.m.Status()
	return agones.Report{Sessions: st.Sessions, Participants: st.Participants, CPUPercent: st.CPUPercent,
		Accepting: st.Accepting, SessionCapacity: st.Limits.MaxSessions}
}

func (p voxdPod) Alive() error { return p.udp.Alive(time.Second) }

// autoscale is the FleetAutoscaler (Buffer policy): every SyncPeriod, add
// pods until Buffer are Ready or starting, and remove Ready ones beyond
// it (never an Allocated one), within MaxReplicas.
func (f *Fleet) autoscale() {
	t := time.NewTicker(f.cfg.SyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		var ready []*Pod
		total := 0
		f.mu.Lock()
		for _, p := range f.pods {
			total++
			switch p.Sidecar.State() {
			case agones.StateReady, agones.StateScheduled:
				ready = append(ready, p)
			}
		}
		f.mu.Unlock()
		for n := len(ready); n < f.cfg.Buffer && total < f.cfg.MaxReplicas; n++ {
			if _, err := f.add(f.cfg.StartDelay); err != nil {
				return
			}
			total++
		}
		slices.SortFunc(ready, func(a, b *Pod) int { return strings.Compare(b.Name, a.Name) }) // newest first
		for _, p := range ready[:max(0, len(ready)-f.cfg.Buffer)] {
			f.stateMu.Lock()
			if p.Sidecar.State() != agones.StateReady {
				f.stateMu.Unlock()
				continue // starting, or allocated meanwhile
			}
			p.Sidecar.SetState(agones.StateShutdown)
			f.stateMu.Unlock()
			f.mu.Lock()
			delete(f.pods, p.Name)
			f.mu.Unlock()
			p.halt()
			p.Sidecar.Close()
		}
	}
}
