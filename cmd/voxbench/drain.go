package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/media"
)

// voxbench drain: the drain scenario across two pods.
//
//  1. Admit sessions × size participants on pod A (its admin API, real
//     SRTP clients, one socket each) and let the talkers talk for
//     --warmup.
//  2. POST /v1/drain to A with --grace, --rate, --window, --deadline.
//     Every participant follows its reconnect notice by itself
//     (client.Options.Readmit): voxbench acts as the routing service and
//     admits the same participant id into the same session id on pod B.
//     Meanwhile A's /v1/status is polled every drainPoll until A holds
//     nobody and every participant has moved or given up, or --timeout.
//  3. Talk on B for --after, measured: each listener must hear each of
//     its session mates that moved. A (listener, talker) pair with
//     nothing delivered is a dead stream, and the listener is lost.
//  4. Everyone leaves; the run's sessions are deleted on B and on A.
//
// A stays drained after the run: a drain is not undone (DELETE /v1/drain
// cancels only during the grace period), so A admits nothing new until it
// is restarted; with exit (the pod's default under Agones, --exit yes)
// voxd exits once drained. A's drain ends by itself once A is empty,
// which the run ensures by deleting whatever of its sessions is left on
// A, or at its deadline.

const (
	// drainPoll is how often A's status is polled during the drain: the
	// resolution of the time to empty.
	drainPoll = 20 * time.Millisecond
	// drainSettle separates the last move from the measured window on B.
	drainSettle = 100 * time.Millisecond
	// drainMaxLostListed bounds DrainResult.LostList.
	drainMaxLostListed = 100
)

// drainConfig is one drain run.
type drainConfig struct {
	adminA, adminB   string
	tokenA, tokenB   string
	sessions, size   int
	talkers, payload int
	warmup, after    time.Duration
	linger           time.Duration
	rtcpInterval     time.Duration
	grace, window    time.Duration
	deadline         time.Duration
	rate             float64
	exit             string // auto, yes, no
	timeout          time.Duration
	maxEmpty         time.Duration
	readmitAttempts  int
	prefix           string
	jsonOut          bool
	concurrency      int
}

const drainUsage = `voxbench drain — the drain scenario across two pods: load on A, drain A (POST /v1/drain),
every client follows its reconnect notice to B (voxbench is the routing service and admits it
there), then talk on B. Reports the notices, their peak rate, the time until A is empty,
the moves, and the participants lost (objective: none).

A is drained for good by this: it admits nothing new until restarted (with --exit yes, or the
pod's default under Agones, voxd exits once drained). --admin and --admin-b are required.

Usage: voxbench drain --admin A --admin-b B [flags]`

func drainFlags(c *drainConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("voxbench drain", flag.ContinueOnError)
	fs.StringVar(&c.adminA, "admin", "", "admin API of pod A, the one drained (URL or host:port; required)")
	fs.StringVar(&c.adminB, "admin-b", "", "admin API of pod B, where the clients re-admit (required)")
	fs.StringVar(&c.tokenA, "token", "", "admin API bearer token of A")
	fs.StringVar(&c.tokenB, "token-b", "", "admin API bearer token of B (empty: --token)")
	fs.IntVar(&c.sessions, "sessions", 10, "sessions")
	fs.IntVar(&c.size, "size", 4, "participants per session")
	fs.IntVar(&c.talkers, "talkers", 1, "talkers per session (the rest only listen and send RTCP)")
	fs.IntVar(&c.payload, "payload", 120, "mean payload bytes per packet (varies ±10 like Opus); at least 18")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "talking on A before the drain")
	fs.DurationVar(&c.after, "after", 3*time.Second, "measured talking on B once everyone moved")
	fs.DurationVar(&c.linger, "linger", 300*time.Millisecond, "wait after the measured window for late packets")
	fs.DurationVar(&c.rtcpInterval, "rtcp-interval", time.Second, "RTCP report interval of every participant")
	fs.DurationVar(&c.grace, "grace", time.Second, "drain: grace period before the notices (0 sends 1ms: the API reads 0 as its 60s default)")
	fs.Float64Var(&c.rate, "rate", 200, "drain: most first notices per second, pod-wide")
	fs.DurationVar(&c.window, "window", 2*time.Second, "drain: each client reconnects at a random moment within it (0 sends 1ms)")
	fs.DurationVar(&c.deadline, "deadline", time.Minute, "drain: A removes whoever is left this long after the drain started")
	fs.StringVar(&c.exit, "exit", "auto", "drain: whether voxd exits once drained: auto (the pod's default: yes under Agones), yes, no")
	fs.DurationVar(&c.timeout, "timeout", 0, "longest wait from the drain request until A is empty and every move settled (0: --deadline + --window + 10s)")
	fs.DurationVar(&c.maxEmpty, "max-empty", 0, "objective: A empty within this time of the drain request (0: none)")
	fs.IntVar(&c.readmitAttempts, "readmit-attempts", client.DefaultReadmitAttempts, "admissions on B tried per move (temporary errors are retried with backoff, Retry-After honoured up to 5s)")
	fs.StringVar(&c.prefix, "prefix", "voxbench-drain", "session id prefix (a random run id follows)")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object instead of the table")
	fs.IntVar(&c.concurrency, "admit-concurrency", 16, "admissions in flight")
	return fs
}

func normalizeAdmin(s string) string {
	if s != "" && !strings.Contains(s, "://") {
		return "http://" + s
	}
	return s
}

func (c *drainConfig) validate() error {
	c.adminA, c.adminB = normalizeAdmin(c.adminA), normalizeAdmin(c.adminB)
	if c.tokenB == "" {
		c.tokenB = c.tokenA
	}
	if c.timeout == 0 {
		c.timeout = c.deadline + c.window + 10*time.Second
	}
	switch {
	case c.adminA == "" || c.adminB == "":
		return errors.New("--admin (the pod drained) and --admin-b (the pod the clients move to) are both required")
	case strings.TrimRight(c.adminA, "/") == strings.TrimRight(c.adminB, "/"):
		return errors.New("--admin and --admin-b name the same pod")
	case c.sessions < 1 || c.size < 2:
		return errors.New("--sessions must be ≥ 1 and --size ≥ 2")
	case c.sessions*c.size > maxParticipants:
		return fmt.Errorf("at most %d participants per run", maxParticipants)
	case c.talkers < 1 || c.talkers > c.size || c.talkers > 64:
		return errors.New("--talkers must be between 1 and min(--size, 64)")
	case c.payload < hdrLen || c.payload > 1200:
		return fmt.Errorf("--payload must be between %d and 1200", hdrLen)
	case c.warmup < 0 || c.linger < 0 || c.grace < 0 || c.window < 0 || c.maxEmpty < 0:
		return errors.New("--warmup, --linger, --grace, --window and --max-empty must not be negative")
	case c.after <= 0 || c.after > time.Hour || c.warmup > time.Hour:
		return errors.New("--after must be positive; --after and --warmup at most 1h")
	case c.rate < 0.1 || c.rate > 1e6:
		return errors.New("--rate must be between 0.1 and 1e6 notices per second")
	case c.window > time.Hour:
		return errors.New("--window at most 1h")
	case c.deadline <= c.grace || c.deadline > 24*time.Hour:
		return errors.New("--deadline must be after --grace, and at most 24h")
	case c.timeout <= c.grace || c.timeout > 25*time.Hour:
		return errors.New("--timeout must be longer than --grace, and at most 25h")
	case c.exit != "auto" && c.exit != "yes" && c.exit != "no":
		return errors.New("--exit must be auto, yes or no")
	case c.readmitAttempts < 1 || c.readmitAttempts > 20:
		return errors.New("--readmit-attempts must be between 1 and 20")
	case c.concurrency < 1:
		return errors.New("--admit-concurrency must be ≥ 1")
	}
	return nil
}

// drainRequest is what --grace, --rate, --window, --deadline and --exit
// ask of A. Zero durations are the API's defaults, so 0 is sent as 1 ms.
func (c *drainConfig) drainRequest() api.DrainRequest {
	atLeast := func(d time.Duration) api.Duration { return api.Duration(max(d, time.Millisecond)) }
	req := api.DrainRequest{Grace: atLeast(c.grace), Rate: c.rate, Window: atLeast(c.window), Deadline: atLeast(c.deadline)}
	if c.exit != "auto" {
		exit := c.exit == "yes"
		req.Exit = &exit
	}
	return req
}

// DrainResult is voxbench drain's outcome, printed by --json as one
// object. Times in milliseconds are from the drain request (voxbench's
// clock, when it sent POST /v1/drain); notice times are when the clients
// received them (authenticated, in the client's reader).
type DrainResult struct {
	RunID        string  `json:"run_id"`
	Sessions     int     `json:"sessions"`
	Size         int     `json:"size"`
	Talkers      int     `json:"talkers_per_session"`
	Participants int     `json:"participants"`
	PayloadBytes int     `json:"payload_bytes"`
	WarmupS      float64 `json:"warmup_s"`
	AfterS       float64 `json:"after_s"`

	// Request is what was asked of A (POST /v1/drain).
	Request DrainRequested `json:"request"`
	// AShards is A's shard count (its /v1/status at the start).
	AShards int `json:"a_shards"`
	// AForeignAtStart counts participants on A that were there before
	// the run (not voxbench's): the drain moves them too.
	AForeignAtStart int `json:"a_foreign_participants_at_start"`
	// BParticipantsAtStart and BAcceptingAtStart are B's status before
	// the drain.
	BParticipantsAtStart int  `json:"b_participants_at_start"`
	BAcceptingAtStart    bool `json:"b_accepting_at_start"`

	// NoticesFirst counts participants that received at least one
	// reconnect notice; NoticeCopies every authenticated copy received
	// (first notices and the server's repeats); NoticeRepeats the copies
	// that arrived while a move was under way (client.Stats.NoticeRepeats);
	// NoticesStale copies from A after the client had left it.
	NoticesFirst  int    `json:"notices_first"`
	NoticeCopies  uint64 `json:"notice_copies"`
	NoticeRepeats uint64 `json:"notice_repeats"`
	NoticesStale  uint64 `json:"notices_stale"`
	// FirstNoticeMS and LastNoticeMS are the first and the last first
	// notice's arrival (null without notices).
	FirstNoticeMS *float64 `json:"first_notice_ms"`
	LastNoticeMS  *float64 `json:"last_notice_ms"`
	// PeakNotices100ms and PeakNotices1s are the most first notices that
	// arrived within any 100 ms and any 1 s (sliding windows over the
	// arrival times). Bound100ms and Bound1s are the server's documented
	// bound for the same windows: ⌈rate × T⌉ plus one session per shard
	// (a shard notifies a whole session at once). Arrival times bunch
	// on a loaded client machine, so the peaks may exceed the bounds a
	// little without the server doing so.
	PeakNotices100ms int `json:"peak_notices_100ms"`
	PeakNotices1s    int `json:"peak_notices_1s"`
	Bound100ms       int `json:"bound_100ms"`
	Bound1s          int `json:"bound_1s"`

	// AEmptyMS is when A's /v1/status first showed no participant
	// (polled every 20 ms; null if it never did within --timeout).
	// AllMovedMS is when the last participant completed its move (null
	// unless everyone moved).
	AEmptyMS   *float64 `json:"a_empty_ms"`
	AllMovedMS *float64 `json:"all_moved_ms"`
	// TimedOut is true when --timeout ended the wait for A to empty and
	// the moves to settle.
	TimedOut bool `json:"timed_out"`

	// Moved counts participants that switched to B; MoveFailed those
	// whose move was given up (B refused, or attempts ran out); NoNotice
	// those that never received a notice; Unsettled those with a notice
	// but neither moved nor failed at the end. ReadmitRetries counts
	// admissions on B retried after a temporary error; MoveDrops the
	// packets the clients dropped between their BYE to A and the switch.
	Moved          int      `json:"moved"`
	MoveFailed     int      `json:"move_failed"`
	NoNotice       int      `json:"no_notice"`
	Unsettled      int      `json:"unsettled"`
	ReadmitRetries uint64   `json:"readmit_retries"`
	MoveDrops      uint64   `json:"move_drops"`
	MoveErrors     []string `json:"move_errors,omitempty"` // up to 5 distinct

	// After is the measured window on B.
	After DrainAfter `json:"after"`

	// Lost counts participants lost: not moved, or moved but hearing
	// nothing on B from a session mate that moved and talked (a dead
	// stream). The objective is 0. LostList names them (at most 100),
	// with the reason.
	Lost     int         `json:"participants_lost"`
	LostList []DrainLost `json:"lost,omitempty"`

	// ADrain is A's drain status at the end (GET /v1/status, before the
	// cleanup): phase and counters (notices sent and repeated,
	// reconnected, timed out, removed at the deadline, unreachable).
	// AParticipantsEnd is A's participant count then.
	ADrain           *api.DrainStatus `json:"a_drain"`
	AParticipantsEnd int              `json:"a_participants_end"`
	// BParticipantsEnd is B's participant count at the end of the
	// measured window (before the clients leave).
	BParticipantsEnd int `json:"b_participants_end"`
	// StatusErrors counts failed polls of A's and B's status.
	StatusErrors int `json:"status_errors"`

	Objectives DrainObjectives `json:"objectives"`
}

// drainRequested is what c.drainRequest sends.
func drainRequested(c *drainConfig) DrainRequested {
	q := c.drainRequest()
	return DrainRequested{GraceMS: *msOf(time.Duration(q.Grace)), Rate: q.Rate, WindowMS: *msOf(time.Duration(q.Window)),
		DeadlineMS: *msOf(time.Duration(q.Deadline)), Exit: c.exit}
}

// DrainRequested is the drain asked of A (as sent: a zero grace or
// window is sent as 1 ms).
type DrainRequested struct {
	GraceMS    float64 `json:"grace_ms"`
	Rate       float64 `json:"rate"`
	WindowMS   float64 `json:"window_ms"`
	DeadlineMS float64 `json:"deadline_ms"`
	Exit       string  `json:"exit"` // auto, yes, no
}

// DrainAfter is the measured window on B: Expected sums, over every
// listener that moved, the packets each of its moved session mates that
// talk sent in the window; Delivered the ones it received (at most the
// expected per pair). Skipped when nobody moved.
type DrainAfter struct {
	Measured    bool    `json:"measured"`
	Expected    uint64  `json:"expected"`
	Delivered   uint64  `json:"delivered"`
	LossPct     float64 `json:"loss_pct"`
	StreamsDead int     `json:"streams_dead"` // (listener, talker) pairs with nothing delivered
	Misrouted   uint64  `json:"misrouted"`    // from another session, from oneself, or not voxbench's
}

// DrainLost is one lost participant.
type DrainLost struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// DrainObjectives are participants lost (always: none allowed) and
// --max-empty.
type DrainObjectives struct {
	MaxEmptyMS *float64 `json:"max_empty_ms,omitempty"`
	Met        bool     `json:"met"`
	Missed     []string `json:"missed,omitempty"`
}

// Participant states, drainPart.state.
const (
	dpAdmitted = iota
	dpNotified
	dpMoved
	dpFailed
)

// drainPart is one participant of a drain run.
type drainPart struct {
	g, session int
	id         string
	p          atomic.Pointer[client.Participant]
	state      atomic.Int32
	noticeAt   atomic.Int64 // first notice's arrival, ns since the epoch; 0: none
	movedAt    atomic.Int64

	// Owned by the reader goroutine until the participant is closed.
	heard     []uint64 // by talker index in the session: packets sent in the window and received
	misrouted uint64
	// Owned by the talk goroutine until it ends.
	sentAfter uint64
}

// drainRun is one drain run in progress.
type drainRun struct {
	c      *drainConfig
	epoch  time.Time
	parts  []*drainPart
	aStart atomic.Int64 // measured window on B, ns since the epoch
	aEnd   atomic.Int64
	stop   chan struct{} // closed: talkers stop

	phase                  atomic.Pointer[string]
	noticed, moved, failed atomic.Int64
	aLeft                  atomic.Int64 // A's participants at the last poll, -1 unknown
	received               atomic.Uint64
	statusErrs             int
}

func (d *drainRun) now() time.Duration { return time.Since(d.epoch) }

func (d *drainRun) setPhase(s string) { d.phase.Store(&s) }

func drainCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	c := &drainConfig{}
	fs := drainFlags(c)
	fs.SetOutput(stderr)
	if err := envflag.ParseCommand(fs, envPrefix, drainUsage, args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "voxbench:", err)
		return exitUsage
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "voxbench:", err)
		return exitUsage
	}
	res, err := runDrain(ctx, c, progressWriter(stderr), stderr)
	if err != nil {
		return setupFailed(ctx, stderr, err)
	}
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		writeDrainTable(stdout, res)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "voxbench: interrupted")
		return exitInterrupted
	}
	if !res.Objectives.Met {
		fmt.Fprintf(stderr, "voxbench: objective missed: %s\n", strings.Join(res.Objectives.Missed, "; "))
		return exitMissed
	}
	return exitOK
}

// runDrain runs the scenario; an error means the run could not be set up
// (a pod unreachable, an admission on A or the drain request refused).
// warn receives warnings (foreign participants on A).
func runDrain(ctx context.Context, c *drainConfig, progress, warn io.Writer) (*DrainResult, error) {
	apiA, err := client.NewAPI(c.adminA, c.tokenA)
	if err != nil {
		return nil, fmt.Errorf("--admin: %w", err)
	}
	apiB, err := client.NewAPI(c.adminB, c.tokenB)
	if err != nil {
		return nil, fmt.Errorf("--admin-b: %w", err)
	}
	stA0, err := apiA.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod A status: %w", err)
	}
	stB0, err := apiB.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod B status: %w", err)
	}
	if stA0.Participants > 0 && warn != nil {
		fmt.Fprintf(warn, "voxbench: warning: A already holds %d participants that are not this run's: the drain moves them too\n", stA0.Participants)
	}
	if !stB0.Accepting && warn != nil {
		fmt.Fprintf(warn, "voxbench: warning: B does not accept (%s): the moves will fail\n", stB0.State)
	}

	var rid [4]byte
	rand.Read(rid[:])
	runID := hex.EncodeToString(rid[:])
	sessionIDs := make([]string, c.sessions)
	for s := range sessionIDs {
		sessionIDs[s] = fmt.Sprintf("%s-%s-s%d", c.prefix, runID, s)
	}
	d := &drainRun{c: c, epoch: time.Now(), stop: make(chan struct{})}
	d.aStart.Store(math.MaxInt64)
	d.aEnd.Store(math.MaxInt64)
	d.aLeft.Store(-1)
	d.setPhase("admitting")
	n := c.sessions * c.size
	d.parts = make([]*drainPart, n)
	for g := range n {
		s, k := g/c.size, g%c.size
		d.parts[g] = &drainPart{g: g, session: s, id: fmt.Sprintf("%s/p%d", sessionIDs[s], k), heard: make([]uint64, c.talkers)}
	}

	var talkWG sync.WaitGroup
	stopOnce := sync.OnceFunc(func() { close(d.stop) })
	// Clean up whatever happens: talkers stop, everyone leaves, the run's
	// sessions go on both pods (A's drain then ends by itself if it has
	// not yet).
	closed := false
	leaveAll := func() {
		if closed {
			return
		}
		closed = true
		stopOnce()
		talkWG.Wait()
		var wg sync.WaitGroup
		for _, dp := range d.parts {
			if p := dp.p.Load(); p != nil {
				wg.Add(1)
				go func() { defer wg.Done(); p.Leave() }()
			}
		}
		wg.Wait()
	}
	defer func() {
		leaveAll()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, id := range sessionIDs {
			for _, ac := range []*client.API{apiB, apiA} {
				wg.Add(1)
				sem <- struct{}{}
				go func() { defer func() { <-sem; wg.Done() }(); ac.DeleteSession(cctx, id) }()
			}
		}
		wg.Wait()
	}()

	stopProgress := d.progress(progress)
	defer stopProgress()

	// Admit and join on A, a bounded number at a time.
	sessOpts := &api.SessionOptions{MaxParticipants: c.size, MaxSpeakers: c.talkers}
	readmit := func(ctx context.Context, old api.Admission, _ media.ReconnectNotice) (api.Admission, error) {
		// The routing service: the same participant into the same session, on B.
		return apiB.Admit(ctx, old.SessionID, api.AdmitRequest{ParticipantID: old.ParticipantID, Session: sessOpts})
	}
	if err := forEach(n, c.concurrency, func(g int) error {
		dp := d.parts[g]
		adm, err := apiA.Admit(ctx, sessionIDs[dp.session], api.AdmitRequest{ParticipantID: fmt.Sprintf("p%d", g%c.size), Session: sessOpts})
		var p *client.Participant
		if err == nil {
			p, err = client.Join(ctx, adm, d.options(dp, readmit))
		}
		if err == nil {
			dp.p.Store(p)
			err = p.SendRTCP() // latch the address at once
		}
		if err != nil {
			return fmt.Errorf("admitting %s on A: %w", dp.id, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	// Talk from t0, the talkers' phases spread over the 20 ms frame.
	t0 := d.now() + 50*time.Millisecond
	nTalkers := c.sessions * c.talkers
	k := 0
	for _, dp := range d.parts {
		if dp.g%c.size >= c.talkers {
			continue
		}
		offset := framePause * time.Duration(k) / time.Duration(nTalkers)
		k++
		talkWG.Add(1)
		go func() { defer talkWG.Done(); d.talk(ctx, dp, t0+offset) }()
	}
	d.setPhase("warm-up on A")
	waitUntil(ctx, d.epoch, t0+c.warmup)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Drain A.
	d.setPhase("draining A")
	drainAt := d.now()
	if _, err := apiA.Drain(ctx, c.drainRequest()); err != nil {
		return nil, fmt.Errorf("drain request to A: %w", err)
	}
	emptyAt, timedOut := d.awaitDrain(ctx, apiA, drainAt)

	// Measure on B.
	var stB1 api.Status
	measured := d.moved.Load() > 0 && ctx.Err() == nil
	if measured {
		d.setPhase("measuring on B")
		start := d.now() + drainSettle
		d.aEnd.Store(int64(start + c.after))
		d.aStart.Store(int64(start))
		waitUntil(ctx, d.epoch, start+c.after+c.linger)
	}
	if st, err := apiB.Status(ctx); err == nil {
		stB1 = st
	} else {
		d.statusErrs++
	}
	stA1, errA := d.finalStatus(ctx, apiA)
	stopProgress()
	leaveAll() // the readers and talkers end: their counts are ours to read

	res := d.result(drainAt, emptyAt, timedOut, measured)
	res.RunID = runID
	res.AShards = len(stA0.Shards)
	res.Bound100ms = int(math.Ceil(c.rate*0.1)) + res.AShards*c.size
	res.Bound1s = int(math.Ceil(c.rate)) + res.AShards*c.size
	res.AForeignAtStart = stA0.Participants
	res.BParticipantsAtStart, res.BAcceptingAtStart = stB0.Participants, stB0.Accepting
	if errA == nil {
		res.ADrain, res.AParticipantsEnd = stA1.Drain, stA1.Participants
	}
	res.BParticipantsEnd = stB1.Participants
	res.StatusErrors = d.statusErrs
	res.objectives(c)
	return res, nil
}

// options are participant dp's client options.
func (d *drainRun) options(dp *drainPart, readmit func(context.Context, api.Admission, media.ReconnectNotice) (api.Admission, error)) client.Options {
	return client.Options{
		RTCPInterval:    d.c.rtcpInterval,
		Readmit:         readmit,
		ReadmitAttempts: d.c.readmitAttempts,
		OnRTP:           d.onRTP(dp),
		OnReconnect: func(media.ReconnectNotice) {
			if dp.noticeAt.CompareAndSwap(0, int64(d.now())) {
				d.noticed.Add(1)
			}
			dp.state.CompareAndSwap(dpAdmitted, dpNotified)
		},
		OnMoved: func(_, _ api.Admission) {
			dp.movedAt.Store(int64(d.now()))
			switch dp.state.Swap(dpMoved) {
			case dpMoved:
				return
			case dpFailed:
				d.failed.Add(-1)
			}
			d.moved.Add(1)
			// Latch the address on B at once rather than at the next
			// report.
			if p := dp.p.Load(); p != nil {
				p.SendRTCP()
			}
		},
		OnMoveFailed: func(_ api.Admission, _ media.ReconnectNotice, _ error) {
			if dp.state.Swap(dpFailed) != dpFailed {
				d.failed.Add(1)
			}
		},
	}
}

// onRTP counts, for listener dp, the packets of each session mate sent in
// the measured window on B.
func (d *drainRun) onRTP(dp *drainPart) func(p *client.Packet) {
	size, talkers := d.c.size, d.c.talkers
	return func(p *client.Packet) {
		d.received.Add(1)
		pl := p.Payload
		if len(pl) < hdrLen || pl[0] != 'V' || pl[1] != 'B' {
			dp.misrouted++
			return
		}
		from := int(binary.BigEndian.Uint32(pl[2:]))
		lt := from - dp.session*size
		if from == dp.g || lt < 0 || lt >= talkers {
			dp.misrouted++
			return
		}
		sent := int64(binary.BigEndian.Uint64(pl[10:]))
		if sent >= d.aStart.Load() && sent < d.aEnd.Load() {
			dp.heard[lt]++
		}
	}
}

// talk sends one frame of dp every 20 ms from start until the measured
// window ends or the run stops; it counts the frames sent in the window.
func (d *drainRun) talk(ctx context.Context, dp *drainPart, start time.Duration) {
	p := dp.p.Load()
	buf := make([]byte, d.c.payload+16)
	for i := range buf {
		buf[i] = byte(i*31 + dp.g)
	}
	buf[0], buf[1] = 'V', 'B'
	binary.BigEndian.PutUint32(buf[2:], uint32(dp.g))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := uint32(0); ; seq++ {
		due := start + time.Duration(seq)*framePause
		if wait := due - d.now(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.stop:
				return
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-d.stop:
			return
		default:
		}
		now := d.now()
		if now >= time.Duration(d.aEnd.Load()) {
			return
		}
		size := frameSize(d.c.payload, seq)
		binary.BigEndian.PutUint32(buf[6:], seq)
		binary.BigEndian.PutUint64(buf[10:], uint64(now))
		err := p.SendWithLevel(buf[:size], 20, true)
		if err == nil && now >= time.Duration(d.aStart.Load()) {
			dp.sentAfter++
		}
	}
}

// awaitDrain polls A until it is empty and every participant's move has
// settled (moved or given up), or c.timeout after drainAt. It returns
// when A was first seen empty (-1: never) and whether it timed out.
func (d *drainRun) awaitDrain(ctx context.Context, apiA *client.API, drainAt time.Duration) (emptyAt time.Duration, timedOut bool) {
	emptyAt = -1
	n := int64(len(d.parts))
	end := drainAt + d.c.timeout
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := apiA.Status(pctx)
		cancel()
		if err == nil {
			d.aLeft.Store(int64(st.Participants))
			if st.Participants == 0 && emptyAt < 0 {
				emptyAt = d.now()
			}
		} else if ctx.Err() == nil {
			d.statusErrs++
		}
		if emptyAt >= 0 && d.moved.Load()+d.failed.Load() >= n && !d.anyMoving() {
			return emptyAt, false
		}
		if d.now() >= end {
			return emptyAt, true
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	return emptyAt, false
}

// finalStatus reads A's status at the end. A empty pod finishes its
// drain at its next check (every 50 ms): wait up to half a second for the
// phase to read drained.
func (d *drainRun) finalStatus(ctx context.Context, apiA *client.API) (api.Status, error) {
	for i := 0; ; i++ {
		st, err := apiA.Status(ctx)
		if err != nil {
			d.statusErrs++
			return st, err
		}
		if i >= 25 || st.Participants > 0 || st.Drain == nil || st.Drain.Phase != api.DrainNotifying {
			return st, nil
		}
		waitUntil(ctx, d.epoch, d.now()+drainPoll)
	}
}

// anyMoving reports whether a participant's move is under way (a failed
// one may start another on a later notice).
func (d *drainRun) anyMoving() bool {
	for _, dp := range d.parts {
		if p := dp.p.Load(); p != nil && p.Moving() {
			return true
		}
	}
	return false
}

func msOf(t time.Duration) *float64 {
	v := float64(t) / float64(time.Millisecond)
	return &v
}

// peakIn returns the most of the sorted times within any window of w.
func peakIn(ts []time.Duration, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i]-ts[j] >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// result computes the outcome once every participant is closed and the
// talkers have ended.
func (d *drainRun) result(drainAt, emptyAt time.Duration, timedOut, measured bool) *DrainResult {
	c := d.c
	r := &DrainResult{
		Sessions: c.sessions, Size: c.size, Talkers: c.talkers, Participants: len(d.parts), PayloadBytes: c.payload,
		WarmupS: c.warmup.Seconds(), AfterS: c.after.Seconds(), TimedOut: timedOut,
		Request: drainRequested(c),
	}
	r.After.Measured = measured
	var firsts []time.Duration
	var lastMoved time.Duration
	moved := make([]bool, len(d.parts))
	lostReason := make([]string, len(d.parts))
	errSeen := map[string]bool{}
	for g, dp := range d.parts {
		p := dp.p.Load()
		if p == nil {
			continue
		}
		st := p.Stats()
		r.NoticeCopies += st.Notices
		r.NoticeRepeats += st.NoticeRepeats
		r.NoticesStale += st.NoticesStale
		r.ReadmitRetries += st.ReadmitRetries
		r.MoveDrops += st.MoveDrops
		if at := dp.noticeAt.Load(); at != 0 {
			firsts = append(firsts, time.Duration(at)-drainAt)
		}
		switch {
		case st.Moves > 0:
			moved[g] = true
			r.Moved++
			lastMoved = max(lastMoved, time.Duration(dp.movedAt.Load())-drainAt)
		case dp.noticeAt.Load() == 0:
			r.NoNotice++
			lostReason[g] = "no reconnect notice"
		case st.ReadmitFailures > 0:
			r.MoveFailed++
			msg := "move failed"
			if err := p.LastMoveError(); err != nil {
				msg += ": " + err.Error()
				if len(r.MoveErrors) < 5 && !errSeen[err.Error()] {
					errSeen[err.Error()] = true
					r.MoveErrors = append(r.MoveErrors, err.Error())
				}
			}
			lostReason[g] = msg
		default:
			r.Unsettled++
			lostReason[g] = "notified, but the move had not settled at the end"
		}
	}
	r.NoticesFirst = len(firsts)
	if len(firsts) > 0 {
		slices.Sort(firsts)
		r.FirstNoticeMS, r.LastNoticeMS = msOf(firsts[0]), msOf(firsts[len(firsts)-1])
		r.PeakNotices100ms = peakIn(firsts, 100*time.Millisecond)
		r.PeakNotices1s = peakIn(firsts, time.Second)
	}
	if emptyAt >= 0 {
		r.AEmptyMS = msOf(emptyAt - drainAt)
	}
	if r.Moved == len(d.parts) {
		r.AllMovedMS = msOf(lastMoved)
	}

	// The measured window on B: each moved listener and each moved mate
	// that talks.
	if measured {
		for g, dp := range d.parts {
			if !moved[g] {
				continue
			}
			r.After.Misrouted += dp.misrouted
			for lt := range c.talkers {
				from := dp.session*c.size + lt
				if from == g || !moved[from] {
					continue
				}
				exp := d.parts[from].sentAfter
				r.After.Expected += exp
				r.After.Delivered += min(dp.heard[lt], exp)
				if exp > 0 && dp.heard[lt] == 0 {
					r.After.StreamsDead++
					if lostReason[g] == "" {
						lostReason[g] = fmt.Sprintf("heard nothing on B from %s", d.parts[from].id)
					}
				}
			}
		}
		if r.After.Expected > 0 {
			r.After.LossPct = 100 * float64(r.After.Expected-r.After.Delivered) / float64(r.After.Expected)
		}
	}
	for g, why := range lostReason {
		if why == "" {
			continue
		}
		r.Lost++
		if len(r.LostList) < drainMaxLostListed {
			r.LostList = append(r.LostList, DrainLost{ID: d.parts[g].id, Reason: why})
		}
	}
	return r
}

func (r *DrainResult) objectives(c *drainConfig) {
	r.Objectives.Met = true
	miss := func(s string) {
		r.Objectives.Met = false
		r.Objectives.Missed = append(r.Objectives.Missed, s)
	}
	if r.Lost > 0 {
		miss(fmt.Sprintf("%d of %d participants lost", r.Lost, r.Participants))
	}
	if c.maxEmpty > 0 {
		r.Objectives.MaxEmptyMS = msOf(c.maxEmpty)
		switch {
		case r.AEmptyMS == nil:
			miss(fmt.Sprintf("A never empty (bound %s)", c.maxEmpty))
		case *r.AEmptyMS > *r.Objectives.MaxEmptyMS:
			miss(fmt.Sprintf("A empty after %.0f ms > %s", *r.AEmptyMS, c.maxEmpty))
		}
	}
}

// progress prints a line on w (a terminal) twice a second until stopped.
func (d *drainRun) progress(w io.Writer) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		var rx0 uint64
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
			}
			left := "?"
			if v := d.aLeft.Load(); v >= 0 {
				left = fmt.Sprint(v)
			}
			rx := d.received.Load()
			fmt.Fprintf(w, "\r\033[K%-15s %6.1fs   notified %d/%d   moved %d   failed %d   A holds %s   receiving %d pps",
				*d.phase.Load(), d.now().Seconds(), d.noticed.Load(), len(d.parts), d.moved.Load(), d.failed.Load(), left, 2*(rx-rx0))
			rx0 = rx
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

func fmtMS(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmtUS(*v * 1e3)
}

// writeDrainTable prints the readable report.
func writeDrainTable(w io.Writer, r *DrainResult) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "layout\t%d sessions × %d (%d talking each), %d participants, %d-byte payloads, %gs on A before the drain\n",
		r.Sessions, r.Size, r.Talkers, r.Participants, r.PayloadBytes, r.WarmupS)
	q := r.Request
	fmt.Fprintf(tw, "drain asked of A\tgrace %s  rate %g/s  window %s  deadline %s  exit %s\n",
		fmtMS(&q.GraceMS), q.Rate, fmtMS(&q.WindowMS), fmtMS(&q.DeadlineMS), q.Exit)
	fmt.Fprintf(tw, "notices received\t%d of %d participants; %d copies in all (%d repeats during moves, %d stale)\n",
		r.NoticesFirst, r.Participants, r.NoticeCopies, r.NoticeRepeats, r.NoticesStale)
	if r.NoticesFirst > 0 {
		fmt.Fprintf(tw, "first notices\tfrom %s to %s after the request\n", fmtMS(r.FirstNoticeMS), fmtMS(r.LastNoticeMS))
		fmt.Fprintf(tw, "peak notice rate\t%d in any 100 ms (server bound %d), %d in any 1 s (bound %d): rate %g/s + one session per shard (%d shards)\n",
			r.PeakNotices100ms, r.Bound100ms, r.PeakNotices1s, r.Bound1s, q.Rate, r.AShards)
	}
	timedOut := ""
	if r.TimedOut {
		timedOut = "  (--timeout reached)"
	}
	fmt.Fprintf(tw, "A empty after\t%s%s\n", fmtMS(r.AEmptyMS), timedOut)
	fmt.Fprintf(tw, "everyone moved after\t%s\n", fmtMS(r.AllMovedMS))
	fmt.Fprintf(tw, "moves\t%d moved, %d failed, %d without a notice, %d unsettled; %d readmit retries, %d packets dropped while moving\n",
		r.Moved, r.MoveFailed, r.NoNotice, r.Unsettled, r.ReadmitRetries, r.MoveDrops)
	for _, e := range r.MoveErrors {
		fmt.Fprintf(tw, "move error\t%s\n", e)
	}
	if r.After.Measured {
		fmt.Fprintf(tw, "on B, %gs measured\tloss %.3f %%  (delivered %d / expected %d), %d dead streams, %d misrouted\n",
			r.AfterS, r.After.LossPct, r.After.Delivered, r.After.Expected, r.After.StreamsDead, r.After.Misrouted)
	} else {
		fmt.Fprintf(tw, "on B\tnot measured: nobody moved\n")
	}
	fmt.Fprintf(tw, "participants lost\t%d\n", r.Lost)
	if a := r.ADrain; a != nil {
		fmt.Fprintf(tw, "A's drain\t%s: %d notices sent + %d repeated, %d reconnected, %d timed out, %d removed at the deadline, %d unreachable; %d participants left\n",
			a.Phase, a.NoticesSent, a.NoticesRepeated, a.Reconnected, a.TimedOut, a.RemovedAtDeadline, a.Unreachable, r.AParticipantsEnd)
	} else {
		fmt.Fprintf(tw, "A's drain\tstatus not read\n")
	}
	fmt.Fprintf(tw, "B\t%d participants at the end (%d before the run)\n", r.BParticipantsEnd, r.BParticipantsAtStart)
	if r.StatusErrors > 0 {
		fmt.Fprintf(tw, "status errors\t%d polls failed\n", r.StatusErrors)
	}
	tw.Flush()
	if len(r.LostList) > 0 {
		fmt.Fprintf(w, "\nlost:\n")
		for _, l := range r.LostList {
			fmt.Fprintf(w, "  %s: %s\n", l.ID, l.Reason)
		}
		if r.Lost > len(r.LostList) {
			fmt.Fprintf(w, "  ... and %d more\n", r.Lost-len(r.LostList))
		}
	}
}
