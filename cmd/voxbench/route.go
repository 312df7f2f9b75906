package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/router/simfleet"
	"github.com/voxfleet/vox/sessionmgr"
)

// routeConfig is voxbench route's configuration.
type routeConfig struct {
	routerURL   string
	token       string
	pods        int
	maxSessions int
	size        int
	rate        float64
	duration    time.Duration
	allocSess   int
	spikeSess   int
	spikeOver   time.Duration
	warmup      time.Duration
	warmupRate  float64
	spikeAfter  time.Duration
	batchWait   time.Duration
	startDelay  time.Duration
	buffer      int
	concurrency int
	jsonOut     bool
}

// RouteResult is voxbench route's --json answer.
type RouteResult struct {
	// Setup: where it ran.
	Router      string `json:"router"` // "in-process" or the URL
	Pods        int    `json:"pods"`
	MaxSessions int    `json:"max_sessions_per_pod"`
	Size        int    `json:"session_size"`
	BatchWaitMS int64  `json:"batch_wait_ms"`
	FleetBuffer int    `json:"fleet_buffer"`
	// Steady: admissions at a target rate through the router.
	Steady RouteLoad `json:"steady"`
	// PerSession: the same kind of load, each new session allocating its
	// pod through the simulated allocator (Packed, retries on
	// UnAllocated) and admitting on it directly (in-process only).
	PerSession *RouteLoad `json:"per_session_allocation,omitempty"`
	// Spike: 0 to SpikeSessions sessions in SpikeOver on a fresh router.
	Spike RouteSpike `json:"spike"`
}

// RouteLoad is one load's admissions and their latency.
type RouteLoad struct {
	TargetRate float64      `json:"target_rate"`
	Admissions int          `json:"admissions"`
	Failed     int          `json:"failed"`
	Sessions   int          `json:"sessions"`
	AchievedPS float64      `json:"achieved_per_second"`
	Latency    RouteLatency `json:"latency"` // every admission, as the caller saw it
	NewSession RouteLatency `json:"new_session_latency"`
	// RouterP50MS/RouterP99MS are the router's own figures (/v1/status).
	RouterP50MS float64 `json:"router_p50_ms,omitempty"`
	RouterP99MS float64 `json:"router_p99_ms,omitempty"`
	// Added*: what the router itself added to its recent admissions (their
	// latency but the pods' answers; /v1/status, last 4096).
	AddedP50MS  float64 `json:"router_added_p50_ms,omitempty"`
	AddedP99MS  float64 `json:"router_added_p99_ms,omitempty"`
	AddedP999MS float64 `json:"router_added_p999_ms,omitempty"`
	Waited      uint64  `json:"admissions_waited"`
	Retries     int     `json:"allocation_retries,omitempty"`
}

// RouteLatency are percentiles in milliseconds.
type RouteLatency struct {
	P50MS, P99MS, P999MS, MaxMS float64
	N                           int
}

// RouteSpike is the spike's outcome.
type RouteSpike struct {
	Sessions    int     `json:"sessions"`
	OverS       float64 `json:"over_s"`
	Admissions  int     `json:"admissions"`
	Failed      int     `json:"failed"`
	Waited      uint64  `json:"admissions_waited"`
	WaitTimeout uint64  `json:"wait_timeouts"`
	PodsUsed    int     `json:"pods_used"`
	PodsMin     int     `json:"pods_min"`
	Allocations uint64  `json:"allocations"`
	// AllocRetries are the refill's allocations answered UnAllocated or
	// Contention (no Ready pod: the fleet is still starting one).
	AllocRetries uint64 `json:"alloc_retries"`
	TargetEnd    int    `json:"target_slots_at_end"`
	Latency      RouteLatency
	// Warmup is the steady trickle of new sessions before the spike (so
	// the refill loop has a rate and an allocation latency); nil if none.
	Warmup *RouteWarmup `json:"warmup,omitempty"`
	// TargetStart is the pool's target of free slots when the spike began.
	TargetStart int `json:"target_slots_at_start"`
	// AllocLatencyStartMS/EndMS are the refill's allocation latency
	// estimate (/v1/status) when the spike began and ended.
	AllocLatencyStartMS float64 `json:"alloc_latency_ms_at_start"`
	AllocLatencyEndMS   float64 `json:"alloc_latency_ms_at_end"`
	// When the spike's waits began: the router's waited counter
	// (/v1/status) is sampled every SampleMS, and each increase is put at
	// the sample that saw it (so a time is at most SampleMS late, never
	// early). WaitsPerSecond[i] are the waits that began in second i of
	// the spike (counted from its first admission, to its last answer);
	// LastWaitS is when the last one began (0: none); WaitsAfter are
	// those that began after the spike's first AfterS seconds.
	SampleMS       int64    `json:"wait_sample_ms"`
	WaitsPerSecond []uint64 `json:"waits_per_second"`
	LastWaitS      float64  `json:"last_wait_s"`
	AfterS         float64  `json:"waits_after_s"`
	WaitsAfter     uint64   `json:"waits_after"`
}

// RouteWarmup is the warm-up before the spike.
type RouteWarmup struct {
	S           float64 `json:"s"`
	SessionsPS  float64 `json:"sessions_per_second"`
	Sessions    int     `json:"sessions"`
	Admissions  int     `json:"admissions"`
	Failed      int     `json:"failed"`
	Waited      uint64  `json:"admissions_waited"`
	TargetStart int     `json:"target_slots_at_start"`
}

const routeUsage = `voxbench route — the router over a fleet: admission latency at a rate (beside
allocating per session), and a spike of new sessions (how many waited on an allocation).

Usage: voxbench route [flags]

Without --router it starts a simulated Agones fleet of --pods voxd pods and a router
in this process (router/simfleet, as voxrouter --local-fleet). With --router URL it
measures a running router (the per-session allocation comparison is skipped, and
the spike runs on that router as it is).

The spike runs on a fresh router (pool at its floor), after --spike-warmup of a
trickle of new sessions (--spike-warmup-rate, default a tenth of the spike's) so the
pool's target has a rate and an allocation latency to adapt from. The router's
waited counter is sampled every 100ms: the waits per second of the spike, when the
last began, and how many began after its first --spike-after.`

func routeCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	c := &routeConfig{}
	fs := flag.NewFlagSet("voxbench route", flag.ContinueOnError)
	fs.StringVar(&c.routerURL, "router", "", "a running router's URL (default: start a fleet and a router in-process)")
	fs.StringVar(&c.token, "token", "", "the router's bearer token")
	fs.IntVar(&c.pods, "pods", 20, "pods of the in-process fleet")
	fs.IntVar(&c.maxSessions, "max-sessions", 100, "sessions per pod of the in-process fleet")
	fs.IntVar(&c.size, "size", 4, "participants per session")
	fs.Float64Var(&c.rate, "rate", 1000, "admissions per second of the steady load")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "length of the steady load")
	fs.IntVar(&c.allocSess, "alloc-sessions", 100, "sessions of the per-session allocation comparison (0: skip)")
	fs.IntVar(&c.spikeSess, "spike-sessions", 400, "sessions of the spike (0: skip)")
	fs.DurationVar(&c.spikeOver, "spike-over", 5*time.Second, "the spike's length")
	fs.DurationVar(&c.warmup, "spike-warmup", 3*time.Second, "a trickle of new sessions before the spike, so the pool's target has a rate and latency (0: none)")
	fs.Float64Var(&c.warmupRate, "spike-warmup-rate", 0, "new sessions per second of the warm-up (0: a tenth of the spike's)")
	fs.DurationVar(&c.spikeAfter, "spike-after", 2*time.Second, "report the waits that began after the spike's first this long")
	fs.DurationVar(&c.batchWait, "batch-wait", simfleet.DefaultBatchWait, "the simulated allocator's batch wait")
	fs.IntVar(&c.buffer, "fleet-buffer", simfleet.DefaultBuffer, "the simulated FleetAutoscaler's Ready buffer, in pods")
	fs.DurationVar(&c.startDelay, "start-delay", simfleet.DefaultStartDelay, "a new simulated pod's start")
	fs.IntVar(&c.concurrency, "concurrency", 64, "admissions in flight at most")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	fs.SetOutput(stderr)
	if err := envflag.ParseCommand(fs, envPrefix, routeUsage, args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "voxbench:", err)
		return exitUsage
	}
	if c.pods < 1 || c.maxSessions < 1 || c.size < 1 || c.rate <= 0 || c.duration <= 0 ||
		c.concurrency < 1 || c.allocSess < 0 || c.buffer < 1 || c.spikeSess < 0 || c.batchWait <= 0 ||
		c.warmup < 0 || c.warmupRate < 0 || c.spikeAfter < 0 || (c.spikeSess > 0 && c.spikeOver <= 0) {
		fmt.Fprintln(stderr, "voxbench: route: bad arguments (see --help)")
		return exitUsage
	}
	res, err := runRoute(ctx, c, stderr)
	if err != nil {
		return setupFailed(ctx, stderr, err)
	}
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		writeRouteTable(stdout, res)
	}
	return exitOK
}

// localRouter is a fleet and a router in this process.
type localRouter struct {
	fleet *simfleet.Fleet
	srv   *router.Server
	url   string
}

func startLocalRouter(c *routeConfig, replicas int) (*localRouter, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := simfleet.New(simfleet.Config{Replicas: replicas, Buffer: c.buffer, MaxReplicas: max(replicas, simfleet.DefaultMaxReplicas),
		BatchWait: c.batchWait, StartDelay: c.startDelay, Logger: quiet,
		Limits: sessionmgr.Limits{MaxSessions: c.maxSessions, MaxParticipants: c.maxSessions * c.size * 2}})
	if err != nil {
		return nil, err
	}
	srv, err := startRouterServer(router.Config{Allocator: f.Allocator(), Logger: quiet})
	if err != nil {
		f.Close()
		return nil, err
	}
	l := &localRouter{fleet: f, srv: srv, url: "http://" + srv.Addr()}
	if err := f.Run(l.url); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *localRouter) close() {
	_ = l.srv.Shutdown(context.Background())
	l.fleet.Close()
}

// startRouterServer makes a router of cfg and serves its API on a free
// loopback port.
func startRouterServer(cfg router.Config) (*router.Server, error) {
	r, err := router.New(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := router.NewServer(router.ServerConfig{Addr: "127.0.0.1:0"}, r)
	if err != nil {
		return nil, err
	}
	return srv, srv.Start()
}

// waitPool waits until the router's pool has its target of free slots.
func waitPool(ctx context.Context, c *client.API, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var st api.RouterStatus
		if _, err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &st); err == nil && st.Pool != nil &&
			st.Pool.FreeSlots >= st.Pool.TargetSlots && st.Pool.FreeSlots > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the router's pool did not fill")
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func runRoute(ctx context.Context, c *routeConfig, progress io.Writer) (*RouteResult, error) {
	res := &RouteResult{Router: c.routerURL, Pods: c.pods, MaxSessions: c.maxSessions, Size: c.size,
		BatchWaitMS: c.batchWait.Milliseconds(), FleetBuffer: c.buffer}
	url := c.routerURL
	if url == "" {
		res.Router = "in-process"
		l, err := startLocalRouter(c, c.pods)
		if err != nil {
			return nil, err
		}
		defer l.close()
		url = l.url
	}
	api1, err := client.NewAPI(url, c.token)
	if err != nil {
		return nil, err
	}
	api1.HTTPClient = client.NewHTTPClient(10 * time.Second)
	if err := waitPool(ctx, api1, 30*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "route: steady %g admissions/s for %v through the router\n", c.rate, c.duration)
	n := int(c.rate * c.duration.Seconds())
	st0 := routerStatus(ctx, api1)
	res.Steady = runLoad(ctx, c, n, c.rate, "st", func(ctx context.Context, session, who string, first bool) error {
		return routerAdmit(ctx, api1, session, who)
	})
	st1 := routerStatus(ctx, api1)
	res.Steady.RouterP50MS, res.Steady.RouterP99MS = st1.LatencyP50MS, st1.LatencyP99MS
	res.Steady.AddedP50MS, res.Steady.AddedP99MS, res.Steady.AddedP999MS = st1.AddedP50MS, st1.AddedP99MS, st1.AddedP999MS
	res.Steady.Waited = poolWaited(st1) - poolWaited(st0)

	if c.routerURL == "" && c.allocSess > 0 {
		fmt.Fprintf(progress, "route: %d sessions allocating per session through the simulated allocator\n", c.allocSess)
		ps, err := runPerSession(ctx, c)
		if err != nil {
			return nil, err
		}
		res.PerSession = ps
	}
	if c.spikeSess > 0 {
		spikeURL := url
		if c.routerURL == "" {
			l, err := startLocalRouter(c, c.pods) // fresh: the pool at its floor, no rate known
			if err != nil {
				return nil, err
			}
			defer l.close()
			spikeURL = l.url
		}
		sp, _ := client.NewAPI(spikeURL, c.token)
		sp.HTTPClient = client.NewHTTPClient(10 * time.Second)
		if err := waitPool(ctx, sp, 30*time.Second); err != nil {
			return nil, err
		}
		spike, err := runSpike(ctx, c, sp, progress)
		if err != nil {
			return nil, err
		}
		res.Spike = *spike
	}
	return res, nil
}

// waitSampler samples a router's waited counter every sampleEvery.
type waitSampler struct {
	mu      sync.Mutex
	samples []waitSample
	stop    chan struct{}
	done    chan struct{}
}

type waitSample struct {
	at     time.Time // when the answer came (the count is no later)
	waited uint64
}

const sampleEvery = 100 * time.Millisecond

func startWaitSampler(ctx context.Context, c *client.API) *waitSampler {
	w := &waitSampler{stop: make(chan struct{}), done: make(chan struct{})}
	w.sample(ctx, c)
	go func() {
		defer close(w.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				w.sample(ctx, c)
			}
		}
	}()
	return w
}

func (w *waitSampler) sample(ctx context.Context, c *client.API) {
	var st api.RouterStatus
	if _, err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &st); err != nil || st.Pool == nil {
		return
	}
	w.mu.Lock()
	w.samples = append(w.samples, waitSample{at: time.Now(), waited: st.Pool.AdmissionsWaited})
	w.mu.Unlock()
}

// finish stops the sampler, takes a last sample and returns them all.
func (w *waitSampler) finish(ctx context.Context, c *client.API) []waitSample {
	close(w.stop)
	<-w.done
	w.sample(ctx, c)
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.samples)
}

// waitTimes turns samples into wait start times (one per wait, at the
// sample that first counted it).
func waitTimes(samples []waitSample) []time.Time {
	var out []time.Time
	for i := 1; i < len(samples); i++ {
		for d := samples[i].waited; d > samples[i-1].waited; d-- {
			out = append(out, samples[i].at)
		}
	}
	return out
}

// spikeWaits fills the spike's wait timeline from wait times, the spike
// running from start to end.
func spikeWaits(sp *RouteSpike, times []time.Time, start, end time.Time, after time.Duration) {
	sp.SampleMS, sp.AfterS = sampleEvery.Milliseconds(), after.Seconds()
	secs := max(1, int((end.Sub(start)+time.Second-1)/time.Second))
	sp.WaitsPerSecond = make([]uint64, secs)
	for _, t := range times {
		d := t.Sub(start)
		if d < 0 {
			continue
		}
		sp.WaitsPerSecond[min(secs-1, int(d/time.Second))]++
		sp.LastWaitS = max(sp.LastWaitS, d.Seconds())
		if d > after {
			sp.WaitsAfter++
		}
	}
}

// runSpike runs the warm-up, then the spike, on the router sp.
func runSpike(ctx context.Context, c *routeConfig, sp *client.API, progress io.Writer) (*RouteSpike, error) {
	out := &RouteSpike{Sessions: c.spikeSess, OverS: c.spikeOver.Seconds(),
		PodsMin: (c.spikeSess + c.maxSessions - 1) / c.maxSessions}
	sampler := startWaitSampler(ctx, sp)
	if c.warmup > 0 {
		rate := c.warmupRate
		if rate == 0 {
			rate = float64(c.spikeSess) / c.spikeOver.Seconds() / 10
		}
		sessions := max(1, int(rate*c.warmup.Seconds()))
		fmt.Fprintf(progress, "route: warm-up of %d sessions of %d over %v\n", sessions, c.size, c.warmup)
		w0 := routerStatus(ctx, sp)
		load := runLoad(ctx, c, sessions*c.size, rate*float64(c.size), "wu", func(ctx context.Context, session, who string, _ bool) error {
			return routerAdmit(ctx, sp, session, who)
		})
		w1 := routerStatus(ctx, sp)
		out.Warmup = &RouteWarmup{S: c.warmup.Seconds(), SessionsPS: rate, Sessions: sessions, Admissions: load.Admissions,
			Failed: load.Failed, Waited: poolWaited(w1) - poolWaited(w0)}
		if w0.Pool != nil {
			out.Warmup.TargetStart = w0.Pool.TargetSlots
		}
	}
	fmt.Fprintf(progress, "route: spike of %d sessions of %d over %v\n", c.spikeSess, c.size, c.spikeOver)
	s0 := routerStatus(ctx, sp)
	total := c.spikeSess * c.size
	pods := map[string]int{}
	var mu sync.Mutex
	start := time.Now()
	load := runLoad(ctx, c, total, float64(total)/c.spikeOver.Seconds(), "sp", func(ctx context.Context, session, who string, _ bool) error {
		var ra api.RouterAdmission
		_, err := sp.Do(ctx, http.MethodPost, "/v1/sessions/"+session+"/participants", api.AdmitRequest{ParticipantID: who}, &ra)
		if err == nil {
			mu.Lock()
			pods[ra.Pod]++
			mu.Unlock()
		}
		return err
	})
	end := time.Now()
	samples := sampler.finish(ctx, sp)
	s1 := routerStatus(ctx, sp)
	out.Admissions, out.Failed, out.PodsUsed, out.Latency = load.Admissions, load.Failed, len(pods), load.Latency
	out.Waited = poolWaited(s1) - poolWaited(s0)
	if s1.Pool != nil && s0.Pool != nil {
		out.WaitTimeout = s1.Pool.WaitTimeouts - s0.Pool.WaitTimeouts
		out.Allocations = s1.Pool.Allocations - s0.Pool.Allocations
		out.AllocRetries = s1.Pool.AllocRetries - s0.Pool.AllocRetries
		out.TargetStart, out.TargetEnd = s0.Pool.TargetSlots, s1.Pool.TargetSlots
		out.AllocLatencyStartMS, out.AllocLatencyEndMS = s0.Pool.AllocationLatencyMS, s1.Pool.AllocationLatencyMS
	}
	spikeWaits(out, waitTimes(samples), start, end, c.spikeAfter)
	return out, nil
}

func routerAdmit(ctx context.Context, c *client.API, session, who string) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/sessions/"+session+"/participants", api.AdmitRequest{ParticipantID: who}, nil)
	return err
}

func routerStatus(ctx context.Context, c *client.API) api.RouterStatus {
	var st api.RouterStatus
	_, _ = c.Do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st
}

func poolWaited(st api.RouterStatus) uint64 {
	if st.Pool == nil {
		return 0
	}
	return st.Pool.AdmissionsWaited
}

// runLoad sends n admissions at rate per second, in sessions of c.size
// (the first member's admission creates the session; the others wait for
// it), at most c.concurrency in flight.
func runLoad(ctx context.Context, c *routeConfig, n int, rate float64, prefix string,
	admit func(ctx context.Context, session, who string, first bool) error) RouteLoad {
	out := RouteLoad{TargetRate: rate, Admissions: n, Sessions: (n + c.size - 1) / c.size}
	// Session ids unique to this run: a running router keeps the sessions
	// of an earlier run (their participants exist).
	prefix = fmt.Sprintf("%s%04x", prefix, rand.Uint32()&0xffff)
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	created := make([]chan struct{}, out.Sessions)
	for i := range created {
		created[i] = make(chan struct{})
	}
	sem := make(chan struct{}, c.concurrency)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s, m := i/c.size, i%c.size
			if m > 0 {
				<-created[s]
			}
			t0 := time.Now()
			err := admit(ctx, fmt.Sprintf("%s-%05d", prefix, s), fmt.Sprintf("p%d", m), m == 0)
			lat[i], ok[i] = time.Since(t0), err == nil
			if m == 0 {
				close(created[s])
			}
			if err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	out.AchievedPS = float64(n) / time.Since(start).Seconds()
	out.Failed = int(failed.Load())
	var all, first []time.Duration
	for i, d := range lat {
		if ok[i] {
			all = append(all, d)
			if i%c.size == 0 {
				first = append(first, d)
			}
		}
	}
	out.Latency, out.NewSession = percentilesMS(all), percentilesMS(first)
	return out
}

func percentilesMS(d []time.Duration) RouteLatency {
	if len(d) == 0 {
		return RouteLatency{}
	}
	slices.Sort(d)
	q := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
	}
	return RouteLatency{P50MS: q(0.5), P99MS: q(0.99), P999MS: q(0.999), MaxMS: q(1), N: len(d)}
}

// runPerSession is the load without the router: each new session
// allocates its pod through the simulated allocator (Packed: Allocated
// with room first, then Ready; UnAllocated retried after 50–150 ms,
// doubling to 1 s, as docs/agones.md advises), then admits on the pod
// directly; the other members go to that pod.
func runPerSession(ctx context.Context, c *routeConfig) (*RouteLoad, error) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer sink.Close()
	f, err := simfleet.Start(simfleet.Config{RouterURL: sink.URL, Replicas: c.pods, Buffer: -1, BatchWait: c.batchWait,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: sessionmgr.Limits{MaxSessions: c.maxSessions, MaxParticipants: c.maxSessions * c.size * 2}})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		readyPods := 0
		for _, p := range f.Pods() {
			if p.Counter.Capacity > 0 {
				readyPods++
			}
		}
		if readyPods == c.pods {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the per-session fleet did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	admin := map[string]*client.API{}
	for _, p := range f.Pods() {
		a, err := client.NewAPI(p.AdminURL, "")
		if err != nil {
			return nil, err
		}
		admin[p.Name] = a
	}
	var mu sync.Mutex
	where := map[string]string{}
	var retries atomic.Int64
	n := c.allocSess * c.size
	load := runLoad(ctx, c, n, min(c.rate, float64(n)/2), "al", func(ctx context.Context, session, who string, first bool) error {
		if first {
			backoff := 100 * time.Millisecond
			for {
				a, err := f.Allocator().Allocate(ctx, router.AllocationRequest{MatchLabels: map[string]string{router.LabelAccepting: "true"}})
				if err == nil {
					mu.Lock()
					where[session] = a.GameServer
					mu.Unlock()
					break
				}
				if !errors.Is(err, router.ErrAllocRetry) {
					return err
				}
				retries.Add(1)
				time.Sleep(backoff/2 + time.Duration(rand.Int64N(int64(backoff))))
				backoff = min(2*backoff, time.Second)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		mu.Lock()
		pod := admin[where[session]]
		mu.Unlock()
		if pod == nil {
			return errors.New("no pod")
		}
		_, err := pod.Admit(ctx, session, api.AdmitRequest{ParticipantID: who})
		return err
	})
	load.Retries = int(retries.Load())
	return &load, nil
}

func writeRouteTable(w io.Writer, r *RouteResult) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	lat := func(l RouteLatency) string {
		return fmt.Sprintf("p50 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms  (%d)", l.P50MS, l.P99MS, l.P999MS, l.MaxMS, l.N)
	}
	fmt.Fprintf(tw, "setup\trouter %s, %d pods of %d sessions, sessions of %d, allocator batch wait %dms, Ready buffer %d pods\n",
		r.Router, r.Pods, r.MaxSessions, r.Size, r.BatchWaitMS, r.FleetBuffer)
	s := r.Steady
	fmt.Fprintf(tw, "router: load\t%d admissions (%d sessions) at %.0f/s (achieved %.0f/s), %d failed, %d waited on an allocation\n",
		s.Admissions, s.Sessions, s.TargetRate, s.AchievedPS, s.Failed, s.Waited)
	fmt.Fprintf(tw, "router: every admission\t%s\n", lat(s.Latency))
	fmt.Fprintf(tw, "router: new sessions\t%s\n", lat(s.NewSession))
	fmt.Fprintf(tw, "router: its own view\tp50 %.2fms  p99 %.2fms (/v1/status, last 4096)\n", s.RouterP50MS, s.RouterP99MS)
	fmt.Fprintf(tw, "router: added by it\tp50 %.3fms  p99 %.3fms  p99.9 %.3fms (its handling but the pods' answers; /v1/status, last 4096)\n",
		s.AddedP50MS, s.AddedP99MS, s.AddedP999MS)
	if p := r.PerSession; p != nil {
		fmt.Fprintf(tw, "per-session allocation: load\t%d admissions (%d sessions) at %.0f/s (achieved %.0f/s), %d failed, %d UnAllocated retried\n",
			p.Admissions, p.Sessions, p.TargetRate, p.AchievedPS, p.Failed, p.Retries)
		fmt.Fprintf(tw, "per-session allocation: every admission\t%s\n", lat(p.Latency))
		fmt.Fprintf(tw, "per-session allocation: new sessions\t%s\n", lat(p.NewSession))
	}
	if sp := r.Spike; sp.Sessions > 0 {
		fmt.Fprintf(tw, "spike\t0 → %d sessions of %d in %.0fs: %d admissions, %d failed, %d waited on an allocation (%d in vain)\n",
			sp.Sessions, r.Size, sp.OverS, sp.Admissions, sp.Failed, sp.Waited, sp.WaitTimeout)
		if w := sp.Warmup; w != nil {
			fmt.Fprintf(tw, "spike: warm-up\t%d sessions at %.1f/s over %.0fs before it: %d admissions, %d failed, %d waited; target %d slots before, %d after\n",
				w.Sessions, w.SessionsPS, w.S, w.Admissions, w.Failed, w.Waited, w.TargetStart, sp.TargetStart)
		}
		last := "none"
		if sp.LastWaitS > 0 {
			last = fmt.Sprintf("last at %.1fs", sp.LastWaitS)
		}
		fmt.Fprintf(tw, "spike: waits\tper second %v; %s; %d after the first %.0fs (sampled every %dms)\n",
			sp.WaitsPerSecond, last, sp.WaitsAfter, sp.AfterS, sp.SampleMS)
		fmt.Fprintf(tw, "spike: pods\t%d used, %d at least; %d allocated by the refill (%d UnAllocated); target %d slots at the start, %d at the end; allocation latency %.0fms at the start, %.0fms at the end\n",
			sp.PodsUsed, sp.PodsMin, sp.Allocations, sp.AllocRetries, sp.TargetStart, sp.TargetEnd, sp.AllocLatencyStartMS, sp.AllocLatencyEndMS)
		fmt.Fprintf(tw, "spike: admissions\t%s\n", lat(sp.Latency))
	}
	tw.Flush()
}
