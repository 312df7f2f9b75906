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
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/bench/stats"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/media"
)

// The payload every talker sends, inside the SRTP-encrypted RTP payload:
//
//	0  'V' 'B'                 magic
//	2  sender index (uint32)   global participant index in the run
//	6  sequence (uint32)       0, 1, 2, ... per sender
//	10 send time (int64 ns)    monotonic, since the run's epoch (same process)
//	18 filler up to the frame's size
const (
	hdrLen     = 18
	framePause = 20 * time.Millisecond // 50 packets/s
	// maxParticipants bounds one run (each participant is a socket and a
	// goroutine in this process).
	maxParticipants = 20000
)

// steadyConfig is one steady run.
type steadyConfig struct {
	admin, token   string
	sessions, size int
	talkers        int
	payload        int
	duration       time.Duration
	warmup         time.Duration
	linger         time.Duration
	rtcpInterval   time.Duration
	prefix         string
	maxLoss        float64 // percent; < 0 means no objective
	maxP99         time.Duration
	jsonOut        bool
	perListener    bool
	concurrency    int
	serverPID      int // > 0: read the server's CPU time from /proc
	transport      string
	profileName    string
	profile        *api.Profile // nil: the pod's default
	cpuProfile     string
	rxPoll         time.Duration
	sendTick       time.Duration
	// mix: mix sessions, the talkers sending real Opus (mix.go).
	mix bool
	// interval is each talker's packet interval: 20 ms in steady, 0 in
	// blast (flat out).
	interval time.Duration
	// sampleEvery, when positive, polls /v1/status that often during the
	// window for the peak rates (blast).
	sampleEvery time.Duration

	// afterJoin, for tests, runs once every participant has joined and
	// before anyone talks.
	afterJoin func(ctx context.Context, ac *client.API, sessionIDs []string) error
}

// testAfterJoin, set by tests only, becomes steadyConfig.afterJoin.
var testAfterJoin func(ctx context.Context, ac *client.API, sessionIDs []string) error

func steadyFlags(c *steadyConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("voxbench steady", flag.ContinueOnError)
	fs.StringVar(&c.admin, "admin", "http://127.0.0.1:8080", "admin API base URL of the pod (or host:port)")
	fs.StringVar(&c.token, "token", "", "admin API bearer token")
	fs.IntVar(&c.sessions, "sessions", 10, "sessions")
	fs.IntVar(&c.size, "size", 4, "participants per session")
	fs.IntVar(&c.talkers, "talkers", 1, "talkers per session (the rest only listen and send RTCP)")
	fs.IntVar(&c.payload, "payload", 120, "mean payload bytes per packet (varies ±10 from frame to frame like Opus); at least 18")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "talking before the measurement, not counted")
	fs.DurationVar(&c.linger, "linger", 500*time.Millisecond, "wait after the last measured send for late packets")
	fs.DurationVar(&c.rtcpInterval, "rtcp-interval", time.Second, "RTCP report interval of every participant")
	fs.StringVar(&c.prefix, "prefix", "voxbench", "session id prefix (a random run id follows)")
	fs.Float64Var(&c.maxLoss, "max-loss", -1, "objective: highest loss in percent (negative: none)")
	fs.DurationVar(&c.maxP99, "max-p99", 0, "objective: highest p99 one-way latency (0: none)")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object instead of the table")
	fs.BoolVar(&c.perListener, "listeners", false, "list every listener (in the table; --json always has them)")
	fs.IntVar(&c.concurrency, "admit-concurrency", 16, "admissions in flight")
	fs.IntVar(&c.serverPID, "server-pid", 0, "PID of the server when it runs on this machine: its CPU per packet and per participant-second (Linux /proc)")
	defTransport := "socket"
	if gsoAvailable {
		defTransport = "gso"
	}
	fs.StringVar(&c.transport, "transport", defTransport, "gso: participants share one socket per position in their session, sends batched as UDP GSO messages, receives with recvmmsg and UDP GRO (Linux; the generator costs a fraction of the server); socket: one socket and goroutine per participant, as real clients")
	fs.StringVar(&c.profileName, "profile", "", "SRTP profile of the sessions: aes_cm_80, aes_cm_32, gcm or an RFC name (empty: the pod's default)")
	fs.DurationVar(&c.rxPoll, "rx-poll", 200*time.Microsecond, "gso transport: drain every socket this often in one goroutine, arrival times from the kernel's receive timestamps (0: block per socket and stamp on wakeup)")
	fs.DurationVar(&c.sendTick, "send-tick", 0, "gso transport: send the frames due at most this often (0: each as it falls due, about every 50 µs); larger ticks make burstier arrivals at the server, which batch better there")
	fs.BoolVar(&c.mix, "mix", false, "mix sessions: the server decodes, mixes and encodes one stream per listener (a voxd built with libopus); the talkers send real Opus frames (--payload does not apply); loss from the mixed streams' sequence numbers, latency as each mixed packet's lateness against its listener's earliest (gso transport)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write voxbench's own CPU profile over the measured window to this file (go tool pprof)")
	fs.DurationVar(&c.sampleEvery, "sample", 0, "poll /v1/status this often during the window for peak rates (blast: 500ms; 0: only at the edges)")
	return fs
}

func (c *steadyConfig) validate() error {
	switch {
	case c.sessions < 1 || c.size < 2:
		return errors.New("--sessions must be ≥ 1 and --size ≥ 2")
	case c.transport != "gso" && c.transport != "socket":
		return errors.New("--transport must be gso or socket")
	case c.sessions*c.size > c.maxParticipants():
		return fmt.Errorf("at most %d participants per run with --transport %s", c.maxParticipants(), c.transport)
	case c.talkers < 1 || c.talkers > c.size || c.talkers > 64:
		return errors.New("--talkers must be between 1 and min(--size, 64)")
	case c.payload < hdrLen || c.payload > 1200:
		return fmt.Errorf("--payload must be between %d and 1200", hdrLen)
	case c.duration <= 0 || c.warmup < 0 || c.linger < 0:
		return errors.New("--duration must be positive, --warmup and --linger not negative")
	case c.duration > 24*time.Hour:
		return errors.New("--duration at most 24h")
	case c.rxPoll < 0 || c.rxPoll > 100*time.Millisecond:
		return errors.New("--rx-poll must be between 0 and 100ms")
	case c.sendTick < 0 || c.sendTick > framePause:
		return errors.New("--send-tick must be between 0 and 20ms")
	case c.concurrency < 1:
		return errors.New("--admit-concurrency must be ≥ 1")
	case c.mix && c.transport != "gso":
		return errors.New("--mix needs --transport gso")
	case c.mix && c.interval == 0:
		return errors.New("--mix sends at the frame rate (not in blast)")
	}
	if c.profileName != "" {
		p, err := parseProfile(c.profileName)
		if err != nil {
			return err
		}
		ap := client.APIProfile(p)
		c.profile = &ap
	}
	if !strings.Contains(c.admin, "://") {
		c.admin = "http://" + c.admin
	}
	return nil
}

// frameSize is the payload size of every talker's frame n: --payload
// varied by -10..+10 bytes from frame to frame, as Opus varies (at least
// hdrLen).
func (c *steadyConfig) frameSize(n uint32) int { return frameSize(c.payload, n) }

// frameSize is the payload size of frame n around a mean of payload bytes.
func frameSize(payload int, n uint32) int { return max(hdrLen, payload+int(n*5%21)-10) }

// maxParticipants bounds one run of c's transport.
func (c *steadyConfig) maxParticipants() int {
	if c.transport == "gso" {
		return maxSharedParticipants
	}
	return maxParticipants
}

// parseBench parses a command's flags: steady's, with defaults changed by
// defaults and more flags added by extra. It returns the exit code to end
// with when ok is false.
func parseBench(name, usage string, args []string, lookup func(string) (string, bool), stderr io.Writer, defaults func(*steadyConfig), extra func(*flag.FlagSet)) (c *steadyConfig, code int, ok bool) {
	c = &steadyConfig{interval: framePause}
	fs := steadyFlags(c)
	fs.Init("voxbench "+name, flag.ContinueOnError)
	if defaults != nil {
		defaults(c)
		// Make the help show the changed defaults.
		fs.VisitAll(func(f *flag.Flag) { f.DefValue = f.Value.String() })
	}
	if extra != nil {
		extra(fs)
	}
	fs.SetOutput(stderr)
	if err := envflag.ParseCommand(fs, envPrefix, usage, args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK, false
		}
		fmt.Fprintln(stderr, "voxbench:", err)
		return nil, exitUsage, false
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "voxbench:", err)
		return nil, exitUsage, false
	}
	c.afterJoin = testAfterJoin
	return c, 0, true
}

// setupFailed reports err and returns its exit code.
func setupFailed(ctx context.Context, stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "voxbench:", err)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitSetup
}

func steadyCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	c, code, ok := parseBench("steady", "voxbench steady — sessions × size participants, talkers at 50 packets/s; per-listener delivery, loss, latency.\n\nUsage: voxbench steady [flags]", args, lookup, stderr, nil, nil)
	if !ok {
		return code
	}
	res, err := runSteady(ctx, c, progressWriter(stderr))
	if err != nil {
		return setupFailed(ctx, stderr, err)
	}
	return report(c, res, stdout, stderr)
}

// report prints res as c asks and returns the exit code.
func report(c *steadyConfig, res *Result, stdout, stderr io.Writer) int {
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		writeTable(stdout, res, c.perListener)
	}
	if !res.Objectives.Met {
		fmt.Fprintf(stderr, "voxbench: objective missed: %s\n", strings.Join(res.Objectives.Missed, "; "))
		return exitMissed
	}
	return exitOK
}

// progressWriter returns w when it is a terminal, nil otherwise.
func progressWriter(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

// receiver is one participant's receive side, touched only by its reader
// goroutine until the participant is closed.
type receiver struct {
	index, session int
	id             string
	streams        []stats.Stream // by talker index within the session
	hist           stats.Histogram
	outside        uint64 // sent before or after the measured window
	misrouted      uint64 // from another session, from itself, or not ours
	// mix is its mixed stream in a --mix run (nil otherwise), from
	// mixContributors other talkers.
	mix             *mixRecv
	mixContributors int
}

// talker is one sender's side.
type talker struct {
	sent, sendErrors, late uint64 // inside the window
	total                  atomic.Uint64
}

// bench is one steady run in progress.
type bench struct {
	c        *steadyConfig
	epoch    time.Time
	wStart   atomic.Int64 // measured window, ns since epoch
	wEnd     atomic.Int64
	rx       []*receiver
	tx       []*talker // by global index; nil for listeners
	received atomic.Uint64
}

// parseProfile accepts the short names of udpbase and netcompare as well
// as the RFC names.
func parseProfile(name string) (media.Profile, error) {
	switch strings.ToLower(name) {
	case "aes_cm_80":
		return media.ProfileAESCM128HMACSHA1_80, nil
	case "aes_cm_32":
		return media.ProfileAESCM128HMACSHA1_32, nil
	case "gcm", "aes_gcm":
		return media.ProfileAEADAES128GCM, nil
	}
	p, err := media.ParseProfile(name)
	if err != nil {
		return 0, fmt.Errorf("--profile: %w", err)
	}
	return p, nil
}

func (b *bench) onRTP(r *receiver) func(p *client.Packet) {
	return func(p *client.Packet) {
		b.received.Add(1)
		b.deliver(r, p.Payload, p.Arrival)
	}
}

// deliver accounts one decrypted payload received by r at arrival. Only
// r's owner (its reader goroutine) calls it.
func (b *bench) deliver(r *receiver, pl []byte, arrival time.Time) {
	if len(pl) < hdrLen || pl[0] != 'V' || pl[1] != 'B' {
		r.misrouted++
		return
	}
	from := int(binary.BigEndian.Uint32(pl[2:]))
	seq := binary.BigEndian.Uint32(pl[6:])
	sent := int64(binary.BigEndian.Uint64(pl[10:]))
	lt := from - r.session*b.c.size
	if from == r.index || lt < 0 || lt >= b.c.talkers {
		r.misrouted++
		return
	}
	if sent < b.wStart.Load() || sent >= b.wEnd.Load() {
		r.outside++
		return
	}
	transit := arrival.Sub(b.epoch) - time.Duration(sent)
	if r.streams[lt].Add(seq, transit) {
		r.hist.Record(transit)
	}
}

func runSteady(ctx context.Context, c *steadyConfig, progress io.Writer) (*Result, error) {
	ac, err := client.NewAPI(c.admin, c.token)
	if err != nil {
		return nil, err
	}
	pod, err := ac.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod status: %w", err)
	}
	gso := c.transport == "gso"
	var rid [4]byte
	rand.Read(rid[:])
	runID := hex.EncodeToString(rid[:])
	sessionIDs := make([]string, c.sessions)
	for s := range sessionIDs {
		sessionIDs[s] = fmt.Sprintf("%s-%s-s%d", c.prefix, runID, s)
	}
	b := &bench{c: c, epoch: time.Now()}
	b.wStart.Store(1<<63 - 1)
	n := c.sessions * c.size
	b.rx = make([]*receiver, n)
	b.tx = make([]*talker, n)
	frames := uint32(64)
	if c.interval > 0 {
		frames += uint32((c.warmup + c.duration) / c.interval)
	}
	for g := range n {
		s, p := g/c.size, g%c.size
		r := &receiver{index: g, session: s, id: fmt.Sprintf("%s/p%d", sessionIDs[s], p), streams: make([]stats.Stream, c.talkers)}
		for i := range r.streams {
			r.streams[i].Grow(frames)
		}
		if c.mix {
			r.mix = &mixRecv{rel: make([]int64, 0, frames)}
			r.mix.stream.Grow(frames + mixReorderRoom)
			r.mixContributors = c.talkers
			if p < c.talkers {
				r.mixContributors-- // not in its own mix
			}
		}
		b.rx[g] = r
		if p < c.talkers {
			b.tx[g] = &talker{}
		}
	}

	// Admit and join, a bounded number at a time.
	parts := make([]*client.Participant, n)
	adms := make([]api.Admission, n)
	var tr *shared
	defer func() {
		if tr != nil {
			tr.close()
		}
		var wg sync.WaitGroup
		for _, p := range parts {
			if p != nil {
				wg.Add(1)
				go func() { defer wg.Done(); p.Leave() }()
			}
		}
		wg.Wait()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, id := range sessionIDs {
			ac.DeleteSession(cctx, id)
		}
	}()
	sessOpts := &api.SessionOptions{MaxParticipants: c.size, MaxSpeakers: c.talkers, Profile: c.profile, Mix: c.mix}
	err = forEach(n, c.concurrency, func(g int) error {
		s, p := g/c.size, g%c.size
		adm, err := ac.Admit(ctx, sessionIDs[s], api.AdmitRequest{ParticipantID: fmt.Sprintf("p%d", p), Session: sessOpts})
		adms[g] = adm
		if err == nil && !gso {
			parts[g], err = client.Join(ctx, adm, client.Options{RTCPInterval: c.rtcpInterval, OnRTP: b.onRTP(b.rx[g])})
			if err == nil {
				err = parts[g].SendRTCP() // latch the address at once
			}
		}
		if err != nil {
			return fmt.Errorf("admitting %s: %w", b.rx[g].id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if gso {
		if tr, err = newShared(b, adms, len(pod.Shards)); err != nil {
			return nil, err
		}
		if err := tr.start(); err != nil { // latches every address
			return nil, err
		}
	}
	if c.afterJoin != nil {
		if err := c.afterJoin(ctx, ac, sessionIDs); err != nil {
			return nil, err
		}
	}

	// Talk: each talker on its own schedule, the talkers' phases spread
	// evenly over the 20 ms frame.
	t0 := time.Since(b.epoch) + 100*time.Millisecond
	wStart, wEnd := t0+c.warmup, t0+c.warmup+c.duration
	b.wEnd.Store(int64(wEnd))
	b.wStart.Store(int64(wStart))
	nTalkers := c.sessions * c.talkers
	var talkWG sync.WaitGroup
	if gso {
		var talkers []int
		for g, tk := range b.tx {
			if tk != nil {
				talkers = append(talkers, g)
			}
		}
		talkWG.Add(1)
		go func() { defer talkWG.Done(); tr.run(ctx, talkers, t0, wStart, wEnd) }()
	}
	k := 0
	for g, tk := range b.tx {
		if tk == nil || gso {
			continue
		}
		offset := c.interval * time.Duration(k) / time.Duration(nTalkers)
		k++
		talkWG.Add(1)
		go func() {
			defer talkWG.Done()
			b.talk(ctx, parts[g], g, tk, t0+offset, wStart, wEnd)
		}()
	}

	// Server counters at the window's edges; progress meanwhile.
	var st0, st1 api.Status
	var st0At, st1At time.Duration
	var cpu0, cpu1 time.Duration
	statusErr := error(nil)
	waitUntil(ctx, b.epoch, wStart)
	var drops0 uint64
	dropsOK := false
	if tr != nil {
		drops0, dropsOK = tr.drops()
	}
	cpu0 = processCPU()
	srv0, srvErr := b.serverCPU()
	st0At = time.Since(b.epoch)
	st0, statusErr = ac.Status(ctx)
	stopProfile, err := startCPUProfile(c.cpuProfile)
	if err != nil {
		return nil, err
	}
	stopProgress := b.progress(progress, wStart, wEnd)
	stopSampling := b.sample(ctx, ac, st0)
	waitUntil(ctx, b.epoch, wEnd)
	var drops1 uint64
	if tr != nil && dropsOK {
		drops1, dropsOK = tr.drops()
	}
	cpu1 = processCPU()
	srv1, srvErr1 := b.serverCPU()
	st1At = time.Since(b.epoch)
	if st, err := ac.Status(ctx); err == nil {
		st1 = st
	} else if statusErr == nil {
		statusErr = err
	}
	stopProgress()
	stopProfile()
	peakRx, peakFwd := stopSampling()
	talkWG.Wait()
	waitUntil(ctx, b.epoch, time.Since(b.epoch)+c.linger)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Close every participant: their readers stop, and the receivers
	// become ours to read.
	if tr != nil {
		tr.close()
	}
	var cwg sync.WaitGroup
	for _, p := range parts {
		if p == nil {
			continue
		}
		cwg.Add(1)
		go func() { defer cwg.Done(); p.Close() }()
	}
	cwg.Wait()
	res := b.result(st0, st1, st1At-st0At, statusErr, cpu1-cpu0)
	res.RunID = runID
	res.Generator.Transport = c.transport
	res.Generator.SendTickUS = usf(c.sendTick)
	if tr != nil {
		res.Generator.GSO = !tr.gsoOff
		res.Generator.Writes = tr.writes
		res.Generator.RTCPSendErrors = tr.rtcpErrs
		for _, s := range tr.socks {
			res.Generator.GROSegments += s.groSegments
			res.Misrouted += s.unknown
			res.Generator.Undecryptable += s.undecryptable
			res.Generator.Truncated += s.truncated
			res.Generator.RTCPReceived += s.rtcp
		}
		res.Generator.Sockets = len(tr.socks)
		if dropsOK {
			d := drops1 - drops0
			res.Generator.RxDrops = &d
			if d > 0 {
				res.Generator.Saturated = true // its receive queues overflowed: it did not keep up
			}
		}
	} else {
		res.Generator.Sockets = n
	}
	res.serverCPU(c, srv1-srv0, errors.Join(srvErr, srvErr1), st1At-st0At)
	res.Server.PeakRxPPS, res.Server.PeakForwardedPPS = peakRx, peakFwd
	return res, nil
}

// forEach runs f(0), ..., f(n-1), at most conc at a time, and returns the
// first error (all calls run to the end regardless).
func forEach(n, conc int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, conc)
	)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}

// startCPUProfile starts profiling this process into path (nothing if
// empty) and returns the function that stops it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// serverCPU returns the server's CPU time when --server-pid is given.
func (b *bench) serverCPU() (time.Duration, error) {
	if b.c.serverPID <= 0 {
		return 0, nil
	}
	return pidCPU(b.c.serverPID)
}

// waitUntil sleeps until at (since epoch) or ctx ends.
func waitUntil(ctx context.Context, epoch time.Time, at time.Duration) {
	d := at - time.Since(epoch)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// talk sends one frame every interval (20 ms; 0 is flat out) from start until wEnd, on schedule
// (a frame due while the previous one was late is sent at once, counted
// as late when more than a frame behind).
func (b *bench) talk(ctx context.Context, p *client.Participant, g int, tk *talker, start, wStart, wEnd time.Duration) {
	buf := make([]byte, b.c.payload+16)
	for i := range buf {
		buf[i] = byte(i*31 + g)
	}
	buf[0], buf[1] = 'V', 'B'
	binary.BigEndian.PutUint32(buf[2:], uint32(g))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := uint32(0); ; seq++ {
		due := start + time.Duration(seq)*b.c.interval
		if due >= wEnd || ctx.Err() != nil || (b.c.interval == 0 && seq%64 == 0 && time.Since(b.epoch) >= wEnd) {
			return
		}
		if d := due - time.Since(b.epoch); d > 0 && (b.c.interval > 0 || seq == 0) {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		size := b.c.frameSize(seq)
		binary.BigEndian.PutUint32(buf[6:], seq)
		now := time.Since(b.epoch)
		binary.BigEndian.PutUint64(buf[10:], uint64(now))
		err := p.SendWithLevel(buf[:size], 20, true)
		tk.total.Add(1)
		if now >= wStart && now < wEnd {
			if err != nil {
				tk.sendErrors++
			} else {
				tk.sent++
			}
			if b.c.interval > 0 && now-due > b.c.interval {
				tk.late++
			}
		}
	}
}

// sample polls the pod's status every c.sampleEvery (if positive) until
// stopped, and returns the highest input and forwarding rates between two
// polls.
func (b *bench) sample(ctx context.Context, ac *client.API, first api.Status) (stop func() (rx, fwd float64)) {
	if b.c.sampleEvery <= 0 {
		return func() (float64, float64) { return 0, 0 }
	}
	done := make(chan struct{})
	var peakRx, peakFwd float64
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(b.c.sampleEvery)
		defer tick.Stop()
		prev, prevAt := first, time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			st, err := ac.Status(ctx)
			if err != nil {
				continue
			}
			now := time.Now()
			s := now.Sub(prevAt).Seconds()
			peakRx = max(peakRx, float64(st.Totals.RxPackets-prev.Totals.RxPackets)/s)
			peakFwd = max(peakFwd, float64(st.Totals.Forwarded-prev.Totals.Forwarded)/s)
			prev, prevAt = st, now
		}
	}()
	return func() (float64, float64) { close(done); <-finished; return peakRx, peakFwd }
}

// progress prints a line on w (a terminal) every second until stopped.
func (b *bench) progress(w io.Writer, wStart, wEnd time.Duration) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var sent0, rx0 uint64
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
			}
			var sent uint64
			for _, tk := range b.tx {
				if tk != nil {
					sent += tk.total.Load()
				}
			}
			rx := b.received.Load()
			el := time.Since(b.epoch) - wStart
			fmt.Fprintf(w, "\r\033[Kmeasuring %4.0fs / %.0fs   sending %7d pps   receiving %8d pps", el.Seconds(), (wEnd - wStart).Seconds(), sent-sent0, rx-rx0)
			sent0, rx0 = sent, rx
		}
	}()
	return func() { close(done); <-finished }
}
