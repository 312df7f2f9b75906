package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/media"
)

// soakConfig is voxbench soak's flags.
type soakConfig struct {
	admin, adminB, token string
	podB                 string
	serverPID            int
	duration, interval   time.Duration
	warmup               time.Duration
	sessions, size       int
	churnEvery           time.Duration
	drainEvery           time.Duration
	drainSessions        int
	out                  string
	tolerance            float64
	jsonOut              bool
	seed                 uint64
}

// SoakSample is one sample of the server (pod A).
type SoakSample struct {
	AtS          float64 `json:"at_s"`
	RSSMiB       float64 `json:"rss_mib"`
	HeapInuseMiB float64 `json:"heap_inuse_mib"`
	Goroutines   float64 `json:"goroutines"`
	OpenFDs      float64 `json:"open_fds"` // -1: not measured (no --server-pid)
	GCPauseMaxMS float64 `json:"gc_pause_max_ms"`
	CPUPerPktUS  float64 `json:"cpu_per_packet_us"` // server CPU over the interval / packets received in it
	RxPPS        float64 `json:"rx_pps"`
	Sessions     int     `json:"sessions"`
	Participants int     `json:"participants"`
}

// SoakResult is voxbench soak --json (and <out>.json).
type SoakResult struct {
	DurationS  float64        `json:"duration_s"`
	IntervalS  float64        `json:"interval_s"`
	WarmupS    float64        `json:"warmup_s"`
	Actions    map[string]int `json:"actions"`
	Drains     int            `json:"drains"`
	Moved      int            `json:"moved"`       // participants that followed pod B's notices to pod A
	MoveFailed int            `json:"move_failed"` // participants whose move failed
	Errors     map[string]int `json:"errors"`
	Samples    []SoakSample   `json:"samples"`
	Trends     []SoakTrend    `json:"trends"`
	Grows      bool           `json:"grows"` // a metric grows without bound (the run fails)
}

// SoakTrend is the trend test of one metric (see trendTest).
type SoakTrend struct {
	Metric     string  `json:"metric"`
	First      float64 `json:"first_third_median"`
	Middle     float64 `json:"middle_third_median"`
	Last       float64 `json:"last_third_median"`
	SlopePerH  float64 `json:"slope_per_hour"`
	Allowed    float64 `json:"allowed_step"`
	Grows      bool    `json:"grows"`
	Samples    int     `json:"samples"`
	Conclusive bool    `json:"conclusive"`
}

const soakUsage = `voxbench soak — sessions joining and leaving continuously on pod A (--admin), talkers starting and
stopping, mutes and mixes toggled, participants leaving with BYE and without (idle timeout); every
--drain-every pod B (--pod-b, a command voxbench starts and stops itself, reachable at --admin-b) gets
sessions, is drained, and its participants follow the notices to pod A. Every --interval it samples pod A's
RSS, heap, goroutines, open file descriptors (with --server-pid), GC pause and CPU per packet received, and
in the end applies a trend test to each: it fails (exit 1) if one grows without bound.

"Grows without bound", after --warmup: the samples are split into thirds and each third's median taken;
the allowed step is --tolerance × the first third's median, at least a floor per metric (RSS 4 MiB, heap
2 MiB, goroutines 5, fds 5, GC pause 1 ms, CPU per packet 1 µs). A metric grows if (a) it rises by more
than a step from the first third to the middle one AND from the middle one to the last (sustained, not one
step), or (b) by more than three steps from the first third to the last, or (c) it rises third over third
at all and its least-squares slope adds more than a step per hour (a slow leak). Fewer than 6 samples
after the warm-up: inconclusive (reported, not failed).

Writes <out>.json (samples, trends), <out>.csv (samples) and <out>.png (one panel per metric).

Usage: voxbench soak [flags]`

func soakFlags(c *soakConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("voxbench soak", flag.ContinueOnError)
	fs.StringVar(&c.admin, "admin", "http://127.0.0.1:8080", "admin API base URL of pod A, the pod measured")
	fs.StringVar(&c.adminB, "admin-b", "", "admin API base URL of pod B, the pod drained (with --pod-b)")
	fs.StringVar(&c.podB, "pod-b", "", "command line that starts pod B (split on spaces), started and stopped (SIGINT) by voxbench for every drain; empty: no drains")
	fs.StringVar(&c.token, "token", "", "admin API bearer token of both pods")
	fs.IntVar(&c.serverPID, "server-pid", 0, "PID of pod A's process on this machine: its open file descriptors (Linux /proc)")
	fs.DurationVar(&c.duration, "duration", 30*time.Minute, "how long to soak")
	fs.DurationVar(&c.interval, "interval", time.Minute, "sampling interval")
	fs.DurationVar(&c.warmup, "warmup", 0, "samples before this are not in the trend test (0: 10 % of --duration)")
	fs.IntVar(&c.sessions, "sessions", 20, "sessions kept on pod A (about: they come and go)")
	fs.IntVar(&c.size, "size", 4, "participants per session")
	fs.DurationVar(&c.churnEvery, "churn-every", 200*time.Millisecond, "one random action this often (new session, session ends, participant leaves and another joins, talker starts or stops, mute, mix, a participant vanishes without BYE)")
	fs.DurationVar(&c.drainEvery, "drain-every", 5*time.Minute, "start, fill and drain pod B this often")
	fs.IntVar(&c.drainSessions, "drain-sessions", 5, "sessions put on pod B before each drain")
	fs.StringVar(&c.out, "out", "soak", "prefix of the files written (<out>.json, .csv, .png)")
	fs.Float64Var(&c.tolerance, "tolerance", 0.10, "allowed step of the trend test, as a fraction of the first third's median")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON instead of the table")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed of the actions (0: random)")
	return fs
}

func soakCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	c := &soakConfig{}
	fs := soakFlags(c)
	fs.SetOutput(stderr)
	if err := envflag.ParseCommand(fs, envPrefix, soakUsage, args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "voxbench:", err)
		return exitUsage
	}
	switch {
	case c.duration <= 0 || c.interval <= 0 || c.interval > c.duration:
		fmt.Fprintln(stderr, "voxbench: --duration and --interval must be positive, --interval at most --duration")
		return exitUsage
	case c.sessions < 1 || c.size < 2 || c.sessions*c.size > 2000 || c.drainSessions < 0:
		fmt.Fprintln(stderr, "voxbench: --sessions ≥ 1, --size ≥ 2, at most 2000 participants")
		return exitUsage
	case c.podB != "" && c.adminB == "":
		fmt.Fprintln(stderr, "voxbench: --pod-b needs --admin-b")
		return exitUsage
	case c.churnEvery <= 0 || c.tolerance <= 0:
		fmt.Fprintln(stderr, "voxbench: --churn-every and --tolerance must be positive")
		return exitUsage
	}
	if c.warmup == 0 {
		c.warmup = c.duration / 10
	}
	for _, u := range []*string{&c.admin, &c.adminB} {
		if *u != "" && !strings.Contains(*u, "://") {
			*u = "http://" + *u
		}
	}
	res, err := runSoak(ctx, c, stderr)
	if err != nil {
		return setupFailed(ctx, stderr, err)
	}
	if err := writeSoakFiles(c.out, res); err != nil {
		fmt.Fprintln(stderr, "voxbench:", err)
		return exitSetup
	}
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		writeSoakTable(stdout, res)
	}
	if res.Grows {
		fmt.Fprintln(stderr, "voxbench: a metric grows without bound (see trends)")
		return exitMissed
	}
	return exitOK
}

// soakMember is one participant of the soak.
type soakMember struct {
	id      string
	p       *client.Participant
	talking bool
	muted   bool
	mix     bool
}

type soakSession struct {
	id      string
	members []*soakMember
	next    int
}

// soak is a run in progress: the sessions on pod A and the counts.
type soak struct {
	c      *soakConfig
	ac, bc *client.API
	rng    *rand.Rand
	runID  string
	mu     sync.Mutex
	res    *SoakResult
	live   []*soakSession
	serial int
	stop   chan struct{}
}

func runSoak(ctx context.Context, c *soakConfig, stderr io.Writer) (*SoakResult, error) {
	ac, err := client.NewAPI(c.admin, c.token)
	if err != nil {
		return nil, err
	}
	if _, err := ac.Status(ctx); err != nil {
		return nil, fmt.Errorf("pod A: %w", err)
	}
	seed := c.seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	var rid [4]byte
	crand.Read(rid[:])
	s := &soak{c: c, ac: ac, rng: rand.New(rand.NewPCG(seed, 1)), runID: fmt.Sprintf("%x", rid), stop: make(chan struct{}),
		res: &SoakResult{IntervalS: c.interval.Seconds(), WarmupS: c.warmup.Seconds(), Actions: map[string]int{}, Errors: map[string]int{}}}
	if c.adminB != "" {
		if s.bc, err = client.NewAPI(c.adminB, c.token); err != nil {
			return nil, err
		}
	}
	defer s.closeAll(ac)
	go s.voice()
	start := time.Now()
	end := start.Add(c.duration)
	churn := time.NewTicker(c.churnEvery)
	defer churn.Stop()
	sample := time.NewTicker(c.interval)
	defer sample.Stop()
	var drainC <-chan time.Time
	if c.podB != "" {
		d := time.NewTicker(c.drainEvery)
		defer d.Stop()
		drainC = d.C
	}
	prev, err := scrape(ctx, c, ac)
	if err != nil {
		return nil, fmt.Errorf("pod A metrics: %w", err)
	}
	var drainDone chan struct{}
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-churn.C:
			s.act(ctx)
		case <-drainC:
			if drainDone == nil {
				drainDone = make(chan struct{})
				go func() { defer close(drainDone); s.drainB(ctx, stderr) }()
			}
		case <-drainDoneC(drainDone):
			drainDone = nil
		case <-sample.C:
			cur, err := scrape(ctx, c, ac)
			if err != nil {
				s.count("errors", "scrape")
				continue
			}
			smp := cur.sample(prev, time.Since(start))
			prev = cur
			s.mu.Lock()
			s.res.Samples = append(s.res.Samples, smp)
			s.mu.Unlock()
			fmt.Fprintf(stderr, "voxbench soak: %6.0fs rss %.1f MiB heap %.1f MiB goroutines %.0f fds %.0f gc pause max %.2f ms cpu/pkt %.2f µs rx %.0f/s, %d sessions %d participants\n",
				smp.AtS, smp.RSSMiB, smp.HeapInuseMiB, smp.Goroutines, smp.OpenFDs, smp.GCPauseMaxMS, smp.CPUPerPktUS, smp.RxPPS, smp.Sessions, smp.Participants)
		}
	}
	if drainDone != nil {
		<-drainDone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.DurationS = time.Since(start).Seconds()
	s.res.Trends, s.res.Grows = trendTest(s.res.Samples, c.warmup.Seconds(), c.tolerance)
	return s.res, nil
}

func drainDoneC(c chan struct{}) <-chan struct{} {
	if c == nil {
		return nil
	}
	return c
}

func (s *soak) count(kind, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind == "errors" {
		s.res.Errors[what]++
	} else {
		s.res.Actions[what]++
	}
}

// voice sends a frame every 20 ms for every talking member.
func (s *soak) voice() {
	t := time.NewTicker(framePause)
	defer t.Stop()
	payload := make([]byte, 100)
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for _, ss := range s.live {
			for _, m := range ss.members {
				if m.talking && m.p != nil {
					_ = m.p.SendWithLevel(payload, 30, true)
				}
			}
		}
		s.mu.Unlock()
	}
}

// join admits a member into session id on pod A and starts its client.
func (s *soak) join(ctx context.Context, ss *soakSession) (*soakMember, error) {
	ss.next++
	m := &soakMember{id: fmt.Sprintf("p%d", ss.next)}
	adm, err := s.ac.Admit(ctx, ss.id, api.AdmitRequest{ParticipantID: m.id, Session: &api.SessionOptions{MaxParticipants: s.c.size + 2}})
	if err != nil {
		return nil, err
	}
	if m.p, err = client.Join(ctx, adm, client.Options{RTCPInterval: time.Second}); err != nil {
		return nil, err
	}
	_ = m.p.SendRTCP()
	m.talking = s.rng.IntN(2) == 0
	return m, nil
}

// act does one random action.
func (s *soak) act(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.mu.Lock()
	n := len(s.live)
	s.mu.Unlock()
	action := "new-session"
	if n > 0 {
		r := s.rng.IntN(100)
		switch {
		case r < 15 && n < s.c.sessions*5/4 || n < s.c.sessions/2:
			action = "new-session"
		case r < 30 && n > s.c.sessions*3/4:
			action = "end-session"
		case r < 50:
			action = "leave-join"
		case r < 70:
			action = "talk-toggle"
		case r < 80:
			action = "mute-toggle"
		case r < 90:
			action = "mix-toggle"
		case r < 95:
			action = "vanish"
		default:
			action = "new-session"
			if n >= s.c.sessions*5/4 {
				action = "end-session"
			}
		}
	}
	s.count("actions", action)
	var err error
	switch action {
	case "new-session":
		s.mu.Lock()
		s.serial++
		ss := &soakSession{id: fmt.Sprintf("soak-%s-%d", s.runID, s.serial)}
		s.mu.Unlock()
		for range s.c.size {
			var m *soakMember
			if m, err = s.join(ctx, ss); err != nil {
				break
			}
			ss.members = append(ss.members, m)
		}
		s.mu.Lock()
		s.live = append(s.live, ss)
		s.mu.Unlock()
	case "end-session":
		ss := s.take()
		if s.rng.IntN(2) == 0 {
			for _, m := range ss.members {
				_ = m.p.Leave()
			}
		} else {
			err = s.ac.DeleteSession(ctx, ss.id)
			for _, m := range ss.members {
				_ = m.p.Close()
			}
		}
	case "leave-join", "vanish":
		s.mu.Lock()
		ss := s.live[s.rng.IntN(len(s.live))]
		var m *soakMember
		if len(ss.members) > 0 {
			i := s.rng.IntN(len(ss.members))
			m = ss.members[i]
			ss.members = slices.Delete(ss.members, i, i+1)
		}
		s.mu.Unlock()
		if m != nil {
			if action == "vanish" {
				_ = m.p.Close() // no BYE: the pod times it out
			} else {
				_ = m.p.Leave()
			}
		}
		var nm *soakMember
		if nm, err = s.join(ctx, ss); err == nil {
			s.mu.Lock()
			ss.members = append(ss.members, nm)
			s.mu.Unlock()
		}
	case "talk-toggle", "mute-toggle", "mix-toggle":
		s.mu.Lock()
		ss := s.live[s.rng.IntN(len(s.live))]
		var m *soakMember
		if len(ss.members) > 0 {
			m = ss.members[s.rng.IntN(len(ss.members))]
		}
		if m != nil && action == "talk-toggle" {
			m.talking = !m.talking
		}
		s.mu.Unlock()
		if m == nil {
			break
		}
		switch action {
		case "mute-toggle":
			m.muted = !m.muted
			_, err = s.ac.SetMuted(ctx, ss.id, m.id, m.muted)
		case "mix-toggle":
			m.mix = !m.mix
			_, err = s.ac.SetMix(ctx, ss.id, m.id, m.mix)
			var ae *client.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && strings.Contains(ae.Message, "mix") {
				err, m.mix = nil, false // a build without Opus: no mixes
				s.count("actions", "mix-unavailable")
			}
		}
	}
	if err != nil {
		s.count("errors", action)
	}
}

// take removes a random live session from the list.
func (s *soak) take() *soakSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.rng.IntN(len(s.live))
	ss := s.live[i]
	s.live = slices.Delete(s.live, i, i+1)
	return ss
}

// drainB starts pod B, puts sessions on it whose members follow notices
// to pod A, drains it, waits until it is empty and stops it.
func (s *soak) drainB(ctx context.Context, stderr io.Writer) {
	argv := strings.Fields(s.c.podB)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		s.count("errors", "pod-b-start")
		fmt.Fprintln(stderr, "voxbench soak: pod B:", err)
		return
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := s.bc.Status(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.count("errors", "pod-b-ready")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var moved []*soakSession
	s.mu.Lock()
	s.serial++
	base := s.serial
	s.mu.Unlock()
	for k := range s.c.drainSessions {
		ss := &soakSession{id: fmt.Sprintf("soak-%s-b%d-%d", s.runID, base, k)}
		for j := range s.c.size {
			id := fmt.Sprintf("p%d", j)
			adm, err := s.bc.Admit(ctx, ss.id, api.AdmitRequest{ParticipantID: id})
			if err != nil {
				s.count("errors", "pod-b-admit")
				continue
			}
			m := &soakMember{id: id, talking: j == 0}
			m.p, err = client.Join(ctx, adm, client.Options{RTCPInterval: time.Second,
				Readmit: func(ctx context.Context, old api.Admission, _ media.ReconnectNotice) (api.Admission, error) {
					return s.ac.Admit(ctx, old.SessionID, api.AdmitRequest{ParticipantID: old.ParticipantID})
				},
				OnMoved: func(_, _ api.Admission) {
					s.mu.Lock()
					s.res.Moved++
					s.mu.Unlock()
				},
				OnMoveFailed: func(api.Admission, media.ReconnectNotice, error) {
					s.mu.Lock()
					s.res.MoveFailed++
					s.mu.Unlock()
				},
			})
			if err != nil {
				s.count("errors", "pod-b-join")
				continue
			}
			_ = m.p.SendRTCP()
			ss.members = append(ss.members, m)
		}
		moved = append(moved, ss)
	}
	time.Sleep(time.Second)
	window := api.Duration(time.Second)
	if _, err := s.bc.Drain(ctx, api.DrainRequest{Grace: api.Duration(time.Millisecond), Rate: 100, Window: window,
		Deadline: api.Duration(20 * time.Second)}); err != nil {
		s.count("errors", "pod-b-drain")
		return
	}
	s.mu.Lock()
	s.res.Drains++
	s.mu.Unlock()
	deadline = time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		st, err := s.bc.Status(ctx)
		if err == nil && st.Participants == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The moved sessions live on pod A now, among the others.
	s.mu.Lock()
	s.live = append(s.live, moved...)
	s.mu.Unlock()
}

func (s *soak) closeAll(ac *client.API) {
	close(s.stop)
	s.mu.Lock()
	live := s.live
	s.live = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, ss := range live {
		for _, m := range ss.members {
			_ = m.p.Close()
		}
		_ = ac.DeleteSession(ctx, ss.id)
	}
}

// scraped is one read of pod A's /metrics and /v1/status.
type scraped struct {
	at                         time.Time
	rss, heap, goroutines, fds float64
	gcMax, cpu                 float64
	rx                         uint64
	sessions, participants     int
}

func scrape(ctx context.Context, c *soakConfig, ac *client.API) (scraped, error) {
	sc := scraped{at: time.Now(), fds: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.admin, "/")+"/metrics", nil)
	if err != nil {
		return sc, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sc, err
	}
	defer resp.Body.Close()
	sn := bufio.NewScanner(resp.Body)
	sn.Buffer(make([]byte, 64<<10), 1<<20)
	for sn.Scan() {
		name, val, ok := strings.Cut(sn.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			sc.rss = v
		case "go_memstats_heap_inuse_bytes":
			sc.heap = v
		case "go_goroutines":
			sc.goroutines = v
		case `go_gc_duration_seconds{quantile="1"}`:
			sc.gcMax = v
		case "process_cpu_seconds_total":
			sc.cpu = v
		}
	}
	if err := sn.Err(); err != nil {
		return sc, err
	}
	st, err := ac.Status(ctx)
	if err != nil {
		return sc, err
	}
	sc.rx, sc.sessions, sc.participants = st.Totals.RxPackets, st.Sessions, st.Participants
	if c.serverPID > 0 {
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.serverPID)); err == nil {
			sc.fds = float64(len(ents))
		}
	}
	return sc, nil
}

func (cur scraped) sample(prev scraped, at time.Duration) SoakSample {
	smp := SoakSample{AtS: at.Seconds(), RSSMiB: cur.rss / (1 << 20), HeapInuseMiB: cur.heap / (1 << 20), Goroutines: cur.goroutines,
		OpenFDs: cur.fds, GCPauseMaxMS: cur.gcMax * 1e3, Sessions: cur.sessions, Participants: cur.participants}
	dt := cur.at.Sub(prev.at).Seconds()
	if rx := cur.rx - prev.rx; rx > 0 && dt > 0 {
		smp.RxPPS = float64(rx) / dt
		smp.CPUPerPktUS = (cur.cpu - prev.cpu) * 1e6 / float64(rx)
	}
	return smp
}

// soakMetrics are the metrics the trend test looks at, with the floor of
// their allowed step (an absolute amount below which a rise is noise).
var soakMetrics = []struct {
	name  string
	get   func(SoakSample) float64
	floor float64
}{
	{"rss_mib", func(s SoakSample) float64 { return s.RSSMiB }, 4},
	{"heap_inuse_mib", func(s SoakSample) float64 { return s.HeapInuseMiB }, 2},
	{"goroutines", func(s SoakSample) float64 { return s.Goroutines }, 5},
	{"open_fds", func(s SoakSample) float64 { return s.OpenFDs }, 5},
	{"gc_pause_max_ms", func(s SoakSample) float64 { return s.GCPauseMaxMS }, 1},
	{"cpu_per_packet_us", func(s SoakSample) float64 { return s.CPUPerPktUS }, 1},
}

// trendTest decides, per metric, whether it grows without bound (see
// soakUsage): after the warm-up, thirds; a sustained rise over both steps,
// or a rise of three steps in all.
func trendTest(samples []SoakSample, warmupS, tol float64) ([]SoakTrend, bool) {
	var post []SoakSample
	for _, s := range samples {
		if s.AtS >= warmupS {
			post = append(post, s)
		}
	}
	grows := false
	var out []SoakTrend
	for _, m := range soakMetrics {
		var xs, ys []float64
		for _, s := range post {
			if v := m.get(s); v >= 0 && !math.IsNaN(v) {
				xs, ys = append(xs, s.AtS), append(ys, v)
			}
		}
		tr := SoakTrend{Metric: m.name, Samples: len(ys)}
		if len(ys) < 6 {
			out = append(out, tr)
			continue
		}
		tr.Conclusive = true
		k := len(ys) / 3
		tr.First, tr.Middle, tr.Last = median(ys[:k]), median(ys[k:len(ys)-k]), median(ys[len(ys)-k:])
		tr.Allowed = math.Max(tol*math.Abs(tr.First), m.floor)
		tr.SlopePerH = slope(xs, ys) * 3600
		sustained := tr.Middle-tr.First > tr.Allowed && tr.Last-tr.Middle > tr.Allowed
		large := tr.Last-tr.First > 3*tr.Allowed
		// Slow: rising third over third, and at a rate that adds more
		// than the allowed step every hour.
		slow := tr.Middle > tr.First && tr.Last > tr.Middle && tr.SlopePerH > tr.Allowed
		tr.Grows = sustained || large || slow
		grows = grows || tr.Grows
		out = append(out, tr)
	}
	return out, grows
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func writeSoakTable(w io.Writer, r *SoakResult) {
	fmt.Fprintf(w, "soak %.0fs, %d samples every %.0fs (warm-up %.0fs), %d drains of pod B (%d participants moved, %d moves failed)\n",
		r.DurationS, len(r.Samples), r.IntervalS, r.WarmupS, r.Drains, r.Moved, r.MoveFailed)
	fmt.Fprintf(w, "actions %v; errors %v\n", r.Actions, r.Errors)
	fmt.Fprintf(w, "%-18s %10s %10s %10s %12s %10s %s\n", "metric", "first⅓", "middle⅓", "last⅓", "slope/h", "step", "verdict")
	for _, t := range r.Trends {
		verdict := "flat"
		switch {
		case !t.Conclusive:
			verdict = fmt.Sprintf("inconclusive (%d samples)", t.Samples)
		case t.Grows:
			verdict = "GROWS"
		}
		fmt.Fprintf(w, "%-18s %10.2f %10.2f %10.2f %12.3f %10.2f %s\n", t.Metric, t.First, t.Middle, t.Last, t.SlopePerH, t.Allowed, verdict)
	}
}

// writeSoakFiles writes <out>.json, <out>.csv and <out>.png.
func writeSoakFiles(out string, r *SoakResult) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out+".json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(out + ".csv")
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	cw.Write([]string{"at_s", "rss_mib", "heap_inuse_mib", "goroutines", "open_fds", "gc_pause_max_ms", "cpu_per_packet_us", "rx_pps", "sessions", "participants"})
	for _, s := range r.Samples {
		ff := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
		cw.Write([]string{ff(s.AtS), ff(s.RSSMiB), ff(s.HeapInuseMiB), ff(s.Goroutines), ff(s.OpenFDs), ff(s.GCPauseMaxMS),
			ff(s.CPUPerPktUS), ff(s.RxPPS), strconv.Itoa(s.Sessions), strconv.Itoa(s.Participants)})
	}
	cw.Flush()
	if err := errors.Join(cw.Error(), f.Close()); err != nil {
		return err
	}
	pf, err := os.Create(out + ".png")
	if err != nil {
		return err
	}
	if err := png.Encode(pf, plotSoak(r.Samples)); err != nil {
		pf.Close()
		return err
	}
	return pf.Close()
}

// plotSoak draws one panel per metric (in soakMetrics' order, then
// participants), top to bottom: the samples as a line over time, each
// panel's y axis from 0 to 1.25 × its largest value, with light grid lines
// at every quarter; no text (the JSON and CSV have the numbers).
func plotSoak(samples []SoakSample) image.Image {
	const w, ph, pad = 900, 120, 10
	type series struct {
		get func(SoakSample) float64
		c   color.RGBA
	}
	var panels []series
	palette := []color.RGBA{{200, 40, 40, 255}, {40, 120, 200, 255}, {40, 160, 80, 255}, {160, 80, 200, 255}, {220, 140, 20, 255}, {20, 20, 20, 255}, {100, 100, 100, 255}}
	for i, m := range soakMetrics {
		panels = append(panels, series{m.get, palette[i%len(palette)]})
	}
	panels = append(panels, series{func(s SoakSample) float64 { return float64(s.Participants) }, palette[6]})
	h := len(panels)*(ph+pad) + pad
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	var tMax float64
	for _, s := range samples {
		tMax = math.Max(tMax, s.AtS)
	}
	if tMax == 0 {
		tMax = 1
	}
	grid := color.RGBA{225, 225, 225, 255}
	for pi, p := range panels {
		top := pad + pi*(ph+pad)
		var yMax float64
		for _, s := range samples {
			yMax = math.Max(yMax, p.get(s))
		}
		if yMax <= 0 {
			yMax = 1
		}
		yMax *= 1.25
		for q := 0; q <= 4; q++ {
			y := top + ph - q*ph/4
			for x := pad; x < w-pad; x++ {
				img.SetRGBA(x, y, grid)
			}
		}
		for y := top; y <= top+ph; y++ {
			img.SetRGBA(pad, y, grid)
			img.SetRGBA(w-pad-1, y, grid)
		}
		px := func(s SoakSample) (int, int) {
			x := pad + int(s.AtS/tMax*float64(w-2*pad-1))
			y := top + ph - int(math.Max(p.get(s), 0)/yMax*float64(ph))
			return x, y
		}
		for i := 1; i < len(samples); i++ {
			x0, y0 := px(samples[i-1])
			x1, y1 := px(samples[i])
			drawLine(img, x0, y0, x1, y1, p.c)
		}
		for _, s := range samples {
			x, y := px(s)
			for dx := -1; dx <= 1; dx++ {
				for dy := -1; dy <= 1; dy++ {
					img.SetRGBA(x+dx, y+dy, p.c)
				}
			}
		}
	}
	return img
}

func drawLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		img.SetRGBA(x0+(x1-x0)*i/n, y0+(y1-y0)*i/n, c)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
