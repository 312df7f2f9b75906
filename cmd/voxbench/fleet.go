package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/router/simfleet"
	"github.com/voxfleet/vox/sessionmgr"
)

// voxbench fleet: the router's fleet operations on simulated Agones fleets
// in this process, with real voxd pods and real SRTP clients that talk,
// listen and follow their reconnect notices back through the router.
//
//	scale-in  load falls from --sessions to --sessions-after: the router
//	          consolidates; how long until the fleet is down to what the
//	          rest needs, notices per second at the clients against the
//	          budget, participants cut, pod-seconds against the same run
//	          without consolidation.
//	rollout   two pools; the new one's weight stepped up (0.01 % … 50 %),
//	          a rollback to 0 in the middle, then 100 % and a drain of
//	          the old pool: the split of new sessions at each step against
//	          the weights, participants cut.
//	clusters  two pools in two regions, one allocator slower; sessions
//	          placed by region and weight; one allocator down: where new
//	          sessions go, and the sessions in place untouched.

type fleetConfig struct {
	scenario    string
	sessions    int
	after       int
	size        int
	maxSessions int
	interval    time.Duration
	budget      float64
	maxDraining int
	grace       time.Duration
	consAfter   time.Duration
	settle      time.Duration
	newPerStep  int
	compare     bool
	batchWait   time.Duration
	slowWait    time.Duration
	startDelay  time.Duration
	slowStart   time.Duration
	buffer      int
	jsonOut     bool
}

const fleetUsage = `voxbench fleet — the router's fleet operations over simulated Agones fleets in this
process (real voxd pods, real SRTP clients that talk and follow their reconnect notices).

Usage: voxbench fleet --scenario scale-in|rollout|clusters [flags]

  scale-in  load falls from --sessions to --sessions-after sessions of --size: the router
            consolidates (--consolidate-after, --consolidate-grace, --reconnect-budget,
            --max-draining); with --compare the same run without consolidation gives the
            pod-seconds saved.
  rollout   pool v2's weight stepped 0.01 % → 1 % → 10 % → 50 %, rolled back to 0, then
            100 % and pool v1 drained; --new-per-step new sessions at each step.
  clusters  pools onprem (region eu, slower allocator) and cloud (region us); sessions
            placed by region; onprem's allocator down: new sessions, and those in place.

Exit 1 when a participant was cut, a split left its tolerance, or notices passed the budget.

Flags (each also read from VOXBENCH_<NAME>):
`

func fleetCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	c := &fleetConfig{}
	fs := flag.NewFlagSet("voxbench fleet", flag.ContinueOnError)
	fs.StringVar(&c.scenario, "scenario", "scale-in", "scale-in, rollout or clusters")
	fs.IntVar(&c.sessions, "sessions", 40, "live talking sessions at the start")
	fs.IntVar(&c.after, "sessions-after", 8, "scale-in: the sessions left when load falls")
	fs.IntVar(&c.size, "size", 4, "participants per live session (all talking)")
	fs.IntVar(&c.maxSessions, "max-sessions", 8, "sessions per pod")
	fs.DurationVar(&c.interval, "frame-interval", 100*time.Millisecond, "each talker's packet interval (20ms is real voice; longer keeps the test bed's load low)")
	fs.Float64Var(&c.budget, "reconnect-budget", 20, "the router's reconnect notices per second, fleet-wide")
	fs.IntVar(&c.maxDraining, "max-draining", 2, "pods the router drains at once")
	fs.DurationVar(&c.grace, "consolidate-grace", 2*time.Second, "scale-in: a chosen pod's grace")
	fs.DurationVar(&c.consAfter, "consolidate-after", 3*time.Second, "scale-in: how long a surplus must last")
	fs.DurationVar(&c.settle, "settle", 60*time.Second, "longest wait for the fleet to settle after a change")
	fs.IntVar(&c.newPerStep, "new-per-step", 400, "rollout: new sessions admitted at each weight step")
	fs.BoolVar(&c.compare, "compare", true, "scale-in: also run without consolidation (pod-seconds saved)")
	fs.DurationVar(&c.batchWait, "batch-wait", simfleet.DefaultBatchWait, "the simulated allocators' batch wait")
	fs.DurationVar(&c.slowWait, "slow-batch-wait", 1500*time.Millisecond, "clusters: the slower (on-premises) allocator's batch wait")
	fs.DurationVar(&c.startDelay, "start-delay", time.Second, "a new simulated pod's start")
	fs.DurationVar(&c.slowStart, "slow-start-delay", 4*time.Second, "clusters: a new on-premises pod's start")
	fs.IntVar(&c.buffer, "fleet-buffer", simfleet.DefaultBuffer, "each simulated FleetAutoscaler's Ready buffer, in pods")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	if err := envflag.ParseCommand(fs, envPrefix, fleetUsage, args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "voxbench fleet: %v\n", err)
		return exitUsage
	}
	if c.sessions < 1 || c.after < 0 || c.scenario == "scale-in" && c.after > c.sessions || c.size < 2 || c.maxSessions < 1 || c.interval <= 0 ||
		c.budget <= 0 || c.maxDraining < 1 || c.newPerStep < 1 || c.settle <= 0 {
		fmt.Fprintln(stderr, "voxbench fleet: --sessions ≥ 1, 0 ≤ --sessions-after ≤ --sessions, --size ≥ 2, positive rates and durations")
		return exitUsage
	}
	var res any
	var ok bool
	var err error
	switch c.scenario {
	case "scale-in":
		res, ok, err = runScaleIn(ctx, c, stderr)
	case "rollout":
		res, ok, err = runRollout(ctx, c, stderr)
	case "clusters":
		res, ok, err = runClusters(ctx, c, stderr)
	default:
		fmt.Fprintf(stderr, "voxbench fleet: --scenario %q: want scale-in, rollout or clusters\n", c.scenario)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "voxbench fleet: %v\n", err)
		return exitSetup
	}
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		writeFleetTable(stdout, res)
	}
	if !ok {
		return exitMissed
	}
	return exitOK
}

// --- the fleets and the router ---

// benchPool is one simulated Fleet and its pool.
type benchPool struct {
	name, region string
	weight       float64
	batchWait    time.Duration
	startDelay   time.Duration
	fleet        *simfleet.Fleet
}

// benchFleet is simulated fleets and a router over them, in this process.
type benchFleet struct {
	pools []*benchPool
	srv   *router.Server
	api   *client.API
	url   string
}

func startBenchFleet(c *fleetConfig, pools []*benchPool, ops router.OpsConfig, floor int) (*benchFleet, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := &benchFleet{pools: pools}
	var confs []router.PoolConfig
	for _, p := range pools {
		f, err := simfleet.New(simfleet.Config{Fleet: p.name, Pool: p.name, Buffer: c.buffer, BatchWait: p.batchWait,
			StartDelay: p.startDelay, Logger: quiet,
			Limits: sessionmgr.Limits{MaxSessions: c.maxSessions, MaxParticipants: c.maxSessions * c.size * 2}})
		if err != nil {
			b.close()
			return nil, err
		}
		p.fleet = f
		w := p.weight
		confs = append(confs, router.PoolConfig{Name: p.name, Weight: &w, Region: p.region, Allocator: f.Allocator(),
			Refill: router.RefillConfig{Floor: floor}})
	}
	srv, err := startRouterServer(router.Config{Pools: confs, Ops: ops, Logger: quiet})
	if err != nil {
		b.close()
		return nil, err
	}
	b.srv, b.url = srv, "http://"+srv.Addr()
	b.api, _ = client.NewAPI(b.url, "")
	b.api.HTTPClient = client.NewHTTPClient(10 * time.Second)
	for _, p := range pools {
		if err := p.fleet.Run(b.url); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *benchFleet) close() {
	if b.srv != nil {
		_ = b.srv.Shutdown(context.Background())
	}
	for _, p := range b.pools {
		if p.fleet != nil {
			p.fleet.Close()
		}
	}
}

// allocated counts the pods whose GameServer is Allocated, per pool.
func (b *benchFleet) allocated() (total int, per map[string]int) {
	per = map[string]int{}
	for _, p := range b.pools {
		for _, pod := range p.fleet.Pods() {
			if pod.State == "Allocated" {
				per[p.name]++
				total++
			}
		}
	}
	return total, per
}

// waitReady waits until every pool's refill has its floor.
func (b *benchFleet) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		list, err := b.api.Pools(ctx)
		ready := err == nil && len(list.Pools) > 0
		for _, p := range list.Pools {
			if p.Refill == nil || p.Refill.FreeSlots < p.Refill.TargetSlots {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pools did not fill (%+v %v)", list, err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// --- live talking sessions ---

// livePart is one talking participant.
type livePart struct {
	session, member int
	sessionID, id   string
	pod             atomic.Pointer[string]
	p               atomic.Pointer[client.Participant]
	noticed         atomic.Bool
	moved           atomic.Int32
	failed          atomic.Bool
	left            atomic.Bool
	heard           []atomic.Int64 // per member: when last heard (ns since the epoch)
}

// liveSet is the talking sessions of a run.
type liveSet struct {
	api      *client.API
	size     int
	interval time.Duration
	epoch    time.Time
	parts    []*livePart
	stop     chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex
	notices []time.Duration // when each first notice reached a client
}

func newLiveSet(api *client.API, size int, interval time.Duration) *liveSet {
	return &liveSet{api: api, size: size, interval: interval, epoch: time.Now(), stop: make(chan struct{})}
}

func (l *liveSet) now() time.Duration { return time.Since(l.epoch) }

// add admits and starts session s (its members talk every interval),
// asking for region when not empty.
func (l *liveSet) add(ctx context.Context, prefix string, s int, region string) error {
	sid := fmt.Sprintf("%s-%04d", prefix, s)
	for m := range l.size {
		lp := &livePart{session: s, member: m, sessionID: sid, id: fmt.Sprintf("m%d", m), heard: make([]atomic.Int64, l.size)}
		// A game backend retries an admission the router could not serve
		// now (503 with Retry-After, a timeout): three attempts.
		var ra api.RouterAdmission
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			// Every member talks: every one forwarded (max_speakers = size),
			// so each hears every mate.
			req := api.AdmitRequest{ParticipantID: lp.id, Session: &api.SessionOptions{MaxSpeakers: l.size}}
			if ra, err = l.api.AdmitRoutedIn(ctx, sid, req, "", region); err == nil {
				break
			}
			if d, temporary := client.IsTemporary(err); temporary || errors.Is(err, context.DeadlineExceeded) {
				_ = sleepCtx(ctx, max(d, 500*time.Millisecond))
				continue
			}
			break
		}
		if err != nil {
			return fmt.Errorf("admit %s/%s: %w", sid, lp.id, err)
		}
		lp.pod.Store(&ra.Pod)
		p, err := client.Join(ctx, ra.Admission, l.options(lp))
		if err != nil {
			return fmt.Errorf("join %s/%s: %w", sid, lp.id, err)
		}
		lp.p.Store(p)
		l.parts = append(l.parts, lp)
		l.wg.Go(func() { l.talk(lp) })
	}
	return nil
}

func (l *liveSet) options(lp *livePart) client.Options {
	return client.Options{
		RTCPInterval: time.Second,
		Readmit: func(ctx context.Context, _ api.Admission, _ media.ReconnectNotice) (api.Admission, error) {
			ra, err := l.api.AdmitRouted(ctx, lp.sessionID, api.AdmitRequest{ParticipantID: lp.id,
				Session: &api.SessionOptions{MaxSpeakers: l.size}}, *lp.pod.Load())
			if err != nil {
				return api.Admission{}, err
			}
			lp.pod.Store(&ra.Pod)
			return ra.Admission, nil
		},
		ReadmitAttempts: 8,
		OnReconnect: func(media.ReconnectNotice) {
			if lp.noticed.CompareAndSwap(false, true) {
				l.mu.Lock()
				l.notices = append(l.notices, l.now())
				l.mu.Unlock()
			}
		},
		OnMoved: func(_, _ api.Admission) {
			lp.moved.Add(1)
			lp.noticed.Store(false) // a later drain may notify it again
			if p := lp.p.Load(); p != nil {
				p.SendRTCP()
			}
		},
		OnMoveFailed: func(api.Admission, media.ReconnectNotice, error) { lp.failed.Store(true) },
		OnRTP: func(pk *client.Packet) {
			pl := pk.Payload
			if len(pl) < 7 || pl[0] != 'V' || pl[1] != 'F' {
				return
			}
			if int(binary.BigEndian.Uint32(pl[2:])) != lp.session {
				return
			}
			if m := int(pl[6]); m < len(lp.heard) {
				lp.heard[m].Store(int64(l.now()))
			}
		},
	}
}

// talk sends lp's frames until it leaves or the set stops.
func (l *liveSet) talk(lp *livePart) {
	buf := make([]byte, 40)
	buf[0], buf[1] = 'V', 'F'
	binary.BigEndian.PutUint32(buf[2:], uint32(lp.session))
	buf[6] = byte(lp.member)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if lp.left.Load() {
			return
		}
		if p := lp.p.Load(); p != nil {
			_ = p.SendWithLevel(buf, 20, true)
		}
	}
}

// end makes every member of session s leave.
func (l *liveSet) end(s int) {
	for _, lp := range l.parts {
		if lp.session == s && !lp.left.Swap(true) {
			if p := lp.p.Load(); p != nil {
				_ = p.Leave()
			}
		}
	}
}

// close stops every talker and closes every participant.
func (l *liveSet) close() {
	close(l.stop)
	l.wg.Wait()
	for _, lp := range l.parts {
		if p := lp.p.Load(); p != nil {
			_ = p.Close()
		}
	}
}

// LiveOutcome is what happened to the live participants.
type LiveOutcome struct {
	Participants int `json:"participants"` // still in their sessions at the end
	Notified     int `json:"notified"`     // got at least one reconnect notice
	Moved        int `json:"moved"`        // moves done (a participant may move twice)
	MoveFailed   int `json:"move_failed"`
	// Cut: notified and not moved, or not hearing every mate at the end.
	Cut      int `json:"cut"`
	Notices  int `json:"notices"`
	MaxPer1s int `json:"notices_max_per_1s"` // the most first notices in any 1 s window, at the clients
}

// outcome checks, after a quiet spell, that each remaining participant
// hears every remaining mate.
func (l *liveSet) outcome(ctx context.Context) LiveOutcome {
	_ = sleepCtx(ctx, 3*l.interval+time.Second)
	fresh := l.now() - 3*l.interval - time.Second
	var out LiveOutcome
	for _, lp := range l.parts {
		if lp.left.Load() {
			continue
		}
		out.Participants++
		moved := int(lp.moved.Load())
		out.Moved += moved
		if lp.failed.Load() {
			out.MoveFailed++
		}
		if moved > 0 || lp.noticed.Load() {
			out.Notified++
		}
		cut := lp.failed.Load() || lp.noticed.Load() // a notice not followed by a move
		for _, mate := range l.parts {
			if mate.session == lp.session && mate != lp && !mate.left.Load() &&
				time.Duration(lp.heard[mate.member].Load()) < fresh {
				cut = true
			}
		}
		if cut {
			out.Cut++
		}
	}
	l.mu.Lock()
	out.Notices = len(l.notices)
	out.MaxPer1s = maxInWindow(l.notices, time.Second)
	l.mu.Unlock()
	return out
}

// maxInWindow is the most times in any window of length w.
func maxInWindow(ts []time.Duration, w time.Duration) int {
	best := 0
	for i := range ts {
		n := 0
		for _, t := range ts {
			if t >= ts[i] && t < ts[i]+w {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// --- scale-in ---

// ScaleInResult is one scale-in run.
type ScaleInResult struct {
	Consolidate   bool    `json:"consolidate"`
	SessionsStart int     `json:"sessions_start"`
	SessionsAfter int     `json:"sessions_after"`
	Size          int     `json:"size"`
	MaxSessions   int     `json:"max_sessions_per_pod"`
	Budget        float64 `json:"reconnect_budget"`
	PodsPeak      int     `json:"pods_peak"`
	PodsEnd       int     `json:"pods_end"`
	// PodsNeeded: the pods the remaining sessions need plus the pool's
	// target and the consolidation margin (one pod), rounded up.
	PodsNeeded  int     `json:"pods_needed"`
	TargetSlots int     `json:"target_slots_end"`
	ReachedS    float64 `json:"reached_s"` // from the fall until PodsEnd ≤ PodsNeeded (-1: not within --settle)
	PodSeconds  float64 `json:"pod_seconds"`
	ObservedS   float64 `json:"observed_s"`
	Chosen      uint64  `json:"pods_chosen"`
	Live        LiveOutcome
}

// ScaleInReport is voxbench fleet --scenario scale-in's answer.
type ScaleInReport struct {
	With    ScaleInResult  `json:"with_consolidation"`
	Without *ScaleInResult `json:"without_consolidation,omitempty"`
}

func runScaleIn(ctx context.Context, c *fleetConfig, progress io.Writer) (any, bool, error) {
	with, err := scaleInOnce(ctx, c, true, 0, progress)
	if err != nil {
		return nil, false, err
	}
	rep := &ScaleInReport{With: *with}
	if c.compare {
		without, err := scaleInOnce(ctx, c, false, time.Duration(with.ObservedS*float64(time.Second)), progress)
		if err != nil {
			return nil, false, err
		}
		rep.Without = without
	}
	ok := with.Live.Cut == 0 && with.Live.MaxPer1s <= int(math.Ceil(c.budget)) && with.ReachedS >= 0
	return rep, ok, nil
}

func scaleInOnce(ctx context.Context, c *fleetConfig, consolidate bool, observe time.Duration, progress io.Writer) (*ScaleInResult, error) {
	ops := router.OpsConfig{Budget: c.budget, MaxDraining: c.maxDraining, Grace: c.grace, ConsolidateAfter: c.consAfter,
		NoConsolidation: !consolidate, Tick: 250 * time.Millisecond}
	floor := max(2, c.maxSessions/2)
	b, err := startBenchFleet(c, []*benchPool{{name: "vox", weight: 1, batchWait: c.batchWait, startDelay: c.startDelay}}, ops, floor)
	if err != nil {
		return nil, err
	}
	defer b.close()
	if err := b.waitReady(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	res := &ScaleInResult{Consolidate: consolidate, SessionsStart: c.sessions, SessionsAfter: c.after, Size: c.size,
		MaxSessions: c.maxSessions, Budget: c.budget}
	live := newLiveSet(b.api, c.size, c.interval)
	defer live.close()
	fmt.Fprintf(progress, "fleet: scale-in (consolidation %v): %d talking sessions of %d\n", consolidate, c.sessions, c.size)
	for s := range c.sessions {
		if err := live.add(ctx, "si", s, ""); err != nil {
			return nil, err
		}
	}
	res.PodsPeak, _ = b.allocated()
	// Load falls: random sessions end, leaving holes on every pod.
	order := rand.Perm(c.sessions)
	for _, s := range order[:c.sessions-c.after] {
		live.end(s)
	}
	fallAt := time.Now()
	fmt.Fprintf(progress, "fleet: %d sessions ended, %d left on %d pods\n", c.sessions-c.after, c.after, res.PodsPeak)
	res.ReachedS = -1
	limit := c.settle
	if observe > 0 {
		limit = observe
	}
	last := time.Now()
	for time.Since(fallAt) < limit {
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
		n, _ := b.allocated()
		now := time.Now()
		res.PodSeconds += float64(n) * now.Sub(last).Seconds()
		last = now
		st := routerStatus(ctx, b.api)
		if st.Pool != nil {
			res.TargetSlots = st.Pool.TargetSlots
		}
		res.PodsNeeded = (c.after + res.TargetSlots + c.maxSessions + c.maxSessions - 1) / c.maxSessions
		if n <= res.PodsNeeded && res.ReachedS < 0 {
			res.ReachedS = time.Since(fallAt).Seconds()
			if observe == 0 {
				// Let the last moves settle, then stop observing.
				observe = time.Since(fallAt) + 2*time.Second
				limit = observe
			}
		}
	}
	res.ObservedS = time.Since(fallAt).Seconds()
	res.PodsEnd, _ = b.allocated()
	if d, err := b.api.Drains(ctx); err == nil {
		res.Chosen = d.Consolidation.Chosen
	}
	res.Live = live.outcome(ctx)
	return res, nil
}

// --- rollout ---

// RolloutStep is one weight step.
type RolloutStep struct {
	WeightV1   float64 `json:"weight_v1"`
	WeightV2   float64 `json:"weight_v2"`
	New        int     `json:"new_sessions"`
	OnV2       int     `json:"on_v2"`           // placed on v2
	ChoseV2    int     `json:"weight_chose_v2"` // v2 was the session's pool by weight (on v2 and not spilled, or spilled from v2)
	Spilled    int     `json:"spilled"`         // placed outside the pool the weight chose (it had no room)
	Failed     int     `json:"failed"`
	Expected   float64 `json:"expected_on_v2"`
	Tolerance  float64 `json:"tolerance"` // 4 standard deviations of the binomial, + 1
	WithinTol  bool    `json:"within_tolerance"`
	Annotation string  `json:"annotation,omitempty"`
}

// RolloutReport is voxbench fleet --scenario rollout's answer.
type RolloutReport struct {
	Steps        []RolloutStep `json:"steps"`
	DrainS       float64       `json:"drain_v1_s"` // POST /v1/pools/v1/drain until v1 holds no participant (-1: not within --settle)
	LiveSessions int           `json:"live_sessions"`
	Live         LiveOutcome
}

func runRollout(ctx context.Context, c *fleetConfig, progress io.Writer) (any, bool, error) {
	ops := router.OpsConfig{Budget: c.budget, MaxDraining: c.maxDraining, NoConsolidation: true, Tick: 250 * time.Millisecond}
	b, err := startBenchFleet(c, []*benchPool{
		{name: "v1", weight: 1, batchWait: c.batchWait, startDelay: c.startDelay},
		{name: "v2", weight: 0, batchWait: c.batchWait, startDelay: c.startDelay},
	}, ops, c.maxSessions)
	if err != nil {
		return nil, false, err
	}
	defer b.close()
	if err := b.waitReady(ctx, 30*time.Second); err != nil {
		return nil, false, err
	}
	rep := &RolloutReport{LiveSessions: c.sessions, DrainS: -1}
	live := newLiveSet(b.api, c.size, c.interval)
	defer live.close()
	fmt.Fprintf(progress, "fleet: rollout: %d talking sessions of %d on v1\n", c.sessions, c.size)
	for s := range c.sessions {
		if err := live.add(ctx, "ro", s, ""); err != nil {
			return nil, false, err
		}
	}
	ok := true
	steps := []struct {
		w1, w2 float64
		note   string
	}{{1, 0.0001, "0.01 %"}, {1, 1.0 / 99, "1 %"}, {1, 1.0 / 9, "10 %"}, {1, 1, "50 %"},
		{1, 0, "rollback"}, {1, 1, "50 % again"}, {0, 1, "100 %"}}
	for i, st := range steps {
		w1, w2 := st.w1, st.w2
		if _, err := b.api.SetPool(ctx, "v1", api.PoolUpdate{Weight: &w1}); err != nil {
			return nil, false, err
		}
		if _, err := b.api.SetPool(ctx, "v2", api.PoolUpdate{Weight: &w2}); err != nil {
			return nil, false, err
		}
		step := RolloutStep{WeightV1: w1, WeightV2: w2, New: c.newPerStep, Annotation: st.note}
		p := w2 / (w1 + w2)
		step.Expected = float64(c.newPerStep) * p
		step.Tolerance = 4*math.Sqrt(float64(c.newPerStep)*p*(1-p)) + 1
		fmt.Fprintf(progress, "fleet: step %s: %d new sessions\n", st.note, c.newPerStep)
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for k := range c.newPerStep {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				sid := fmt.Sprintf("new-%d-%05d", i, k)
				ra, err := b.api.AdmitRouted(ctx, sid, api.AdmitRequest{ParticipantID: "x"}, "")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					step.Failed++
					return
				}
				onV2 := ra.Pool == "v2"
				if onV2 {
					step.OnV2++
				}
				if ra.Spilled {
					step.Spilled++
				}
				if onV2 != ra.Spilled {
					step.ChoseV2++
				}
				go func() { _ = b.api.DeleteSession(context.WithoutCancel(ctx), sid) }()
			})
		}
		wg.Wait()
		step.WithinTol = math.Abs(float64(step.ChoseV2)-step.Expected) <= step.Tolerance
		if !step.WithinTol || step.Failed > 0 || w2 == 0 && step.OnV2 > 0 {
			ok = false
		}
		rep.Steps = append(rep.Steps, step)
	}
	fmt.Fprintln(progress, "fleet: draining pool v1")
	start := time.Now()
	if _, err := b.api.DrainPool(ctx, "v1", false); err != nil {
		return nil, false, err
	}
	for time.Since(start) < c.settle {
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return nil, false, err
		}
		list, err := b.api.Pools(ctx)
		if err != nil {
			continue
		}
		empty := false
		for _, p := range list.Pools {
			if p.Name == "v1" && p.Participants == 0 {
				empty = true
			}
		}
		if empty {
			rep.DrainS = time.Since(start).Seconds()
			break
		}
	}
	rep.Live = live.outcome(ctx)
	if rep.Live.Cut > 0 || rep.DrainS < 0 || rep.Live.MaxPer1s > int(math.Ceil(c.budget)) {
		ok = false
	}
	return rep, ok, nil
}

// --- clusters ---

// ClustersReport is voxbench fleet --scenario clusters's answer.
type ClustersReport struct {
	// ByRegion: new sessions asked for each region, and where they landed.
	ByRegion map[string]map[string]int `json:"by_region"`
	// Outage: onprem's allocator down; new eu sessions, where they landed.
	Outage       map[string]int `json:"outage_placed"`
	OutageFailed int            `json:"outage_failed"`
	OutageWaited uint64         `json:"outage_waited"`
	// InPlaceMoved: live sessions on onprem that changed pod during the
	// outage (must be 0).
	InPlaceMoved int `json:"in_place_moved"`
	LiveSessions int `json:"live_sessions"`
	Live         LiveOutcome
}

func runClusters(ctx context.Context, c *fleetConfig, progress io.Writer) (any, bool, error) {
	ops := router.OpsConfig{Budget: c.budget, NoConsolidation: true, Tick: 250 * time.Millisecond}
	pools := []*benchPool{
		{name: "onprem", region: "eu", weight: 1, batchWait: c.slowWait, startDelay: c.slowStart},
		{name: "cloud", region: "us", weight: 1, batchWait: c.batchWait, startDelay: c.startDelay},
	}
	b, err := startBenchFleet(c, pools, ops, c.maxSessions)
	if err != nil {
		return nil, false, err
	}
	defer b.close()
	if err := b.waitReady(ctx, 60*time.Second); err != nil {
		return nil, false, err
	}
	rep := &ClustersReport{ByRegion: map[string]map[string]int{}, Outage: map[string]int{}, LiveSessions: c.sessions}
	poolOf := func(pod string) string {
		for _, p := range pools {
			if strings.HasPrefix(pod, p.name+"-") {
				return p.name
			}
		}
		return "?"
	}
	ok := true
	// By region: a few sessions each (admission only).
	for _, region := range []string{"eu", "us"} {
		rep.ByRegion[region] = map[string]int{}
		for k := range c.maxSessions / 2 {
			sid := fmt.Sprintf("r-%s-%d", region, k)
			ra, err := b.api.AdmitRoutedIn(ctx, sid, api.AdmitRequest{ParticipantID: "x"}, "", region)
			if err != nil {
				rep.ByRegion[region]["failed"]++
				ok = false
				continue
			}
			rep.ByRegion[region][poolOf(ra.Pod)]++
			_ = b.api.DeleteSession(ctx, sid)
		}
	}
	// Live sessions in eu (onprem).
	fmt.Fprintf(progress, "fleet: clusters: %d talking sessions in eu\n", c.sessions)
	live := newLiveSet(b.api, c.size, c.interval)
	defer live.close()
	for s := range c.sessions {
		if err := live.add(ctx, "cl", s, "eu"); err != nil {
			return nil, false, err
		}
	}
	before := map[string]string{}
	for _, lp := range live.parts {
		before[lp.sessionID] = *lp.pod.Load()
	}
	fmt.Fprintln(progress, "fleet: onprem's allocator down")
	pools[0].fleet.Allocator().SetDown(true)
	st0 := routerStatus(ctx, b.api)
	for k := range 3 * c.maxSessions {
		sid := fmt.Sprintf("out-%d", k)
		ra, err := b.api.AdmitRoutedIn(ctx, sid, api.AdmitRequest{ParticipantID: "x"}, "", "eu")
		if err != nil {
			rep.OutageFailed++
			continue
		}
		rep.Outage[poolOf(ra.Pod)]++
	}
	st1 := routerStatus(ctx, b.api)
	rep.OutageWaited = poolWaited(st1) - poolWaited(st0)
	for _, lp := range live.parts {
		if *lp.pod.Load() != before[lp.sessionID] {
			rep.InPlaceMoved++
		}
	}
	rep.Live = live.outcome(ctx)
	if rep.OutageFailed > 0 || rep.InPlaceMoved > 0 || rep.Live.Cut > 0 || rep.Outage["cloud"] == 0 {
		ok = false
	}
	return rep, ok, nil
}

// --- output ---

func writeFleetTable(w io.Writer, res any) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	live := func(name string, l LiveOutcome) {
		fmt.Fprintf(tw, "%s\t%d participants at the end, %d notified, %d moves, %d move failures, %d cut; notices %d, at most %d in 1 s\n",
			name, l.Participants, l.Notified, l.Moved, l.MoveFailed, l.Cut, l.Notices, l.MaxPer1s)
	}
	switch r := res.(type) {
	case *ScaleInReport:
		one := func(name string, s ScaleInResult) {
			fmt.Fprintf(tw, "%s\t%d → %d sessions of %d (pods of %d); pods %d at the peak, %d at the end, %d needed; reached in %.1f s; %.0f pod-seconds over %.1f s; %d pods chosen\n",
				name, s.SessionsStart, s.SessionsAfter, s.Size, s.MaxSessions, s.PodsPeak, s.PodsEnd, s.PodsNeeded,
				s.ReachedS, s.PodSeconds, s.ObservedS, s.Chosen)
			live(name+": clients", s.Live)
		}
		one("with consolidation", r.With)
		if r.Without != nil {
			one("without", *r.Without)
			if r.Without.PodSeconds > 0 {
				fmt.Fprintf(tw, "saved\t%.0f %% of the pod-seconds over the same time\n", 100*(1-r.With.PodSeconds/r.Without.PodSeconds))
			}
		}
	case *RolloutReport:
		for _, s := range r.Steps {
			fmt.Fprintf(tw, "step %s\tweights v1 %.4g v2 %.4g: weight chose v2 for %d of %d new sessions (expected %.1f ± %.1f) %s; %d placed on v2, %d spilled, %d failed\n",
				s.Annotation, s.WeightV1, s.WeightV2, s.ChoseV2, s.New, s.Expected, s.Tolerance, okWord(s.WithinTol), s.OnV2, s.Spilled, s.Failed)
		}
		fmt.Fprintf(tw, "drain v1\t%d live sessions moved off v1 in %.1f s\n", r.LiveSessions, r.DrainS)
		live("clients", r.Live)
	case *ClustersReport:
		for region, m := range r.ByRegion {
			fmt.Fprintf(tw, "region %s\t%v\n", region, m)
		}
		fmt.Fprintf(tw, "onprem allocator down\tnew eu sessions placed %v, %d failed, %d waited; %d live sessions moved (must be 0)\n",
			r.Outage, r.OutageFailed, r.OutageWaited, r.InPlaceMoved)
		live("clients", r.Live)
	}
}

func okWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "OUT OF TOLERANCE"
}
