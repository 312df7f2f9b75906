// Command voxd is the vox voice media server: SRTP voice sessions on a
// sharded UDP port (netio), hosted by the session manager (sessionmgr) and
// managed over the admin HTTP API (admin).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/cmd/internal/logflag"
	"github.com/voxfleet/vox/internal/cpuload"
	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/sessionmgr"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // could not start, or a fatal error while running
	exitUsage  = 2 // bad flags or environment
	exitForced = 3 // a second signal forced the exit before a clean stop
)

const summary = `voxd — vox voice media server (SRTP over UDP, sharded, batched).

Usage: voxd [flags]

Hosts voice sessions on one UDP port and serves the admin API (sessions,
participants, status, metrics) on --admin-addr. Runs standalone by default;
every flag can also be set with its VOX_* environment variable. Stops cleanly
on SIGINT or SIGTERM; a second signal forces the exit.`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stderr, nil))
}

// config is voxd's configuration, from flags and the environment.
type config struct {
	net           netio.Config
	sessions      sessionmgr.Config
	adminAddr     string
	drainDeadline time.Duration
	drainGrace    time.Duration
	drainRate     float64
	drainWindow   time.Duration

	agonesMode     agones.Mode
	agonesURL      string // sidecar base URL when enabled
	agonesWait     time.Duration
	agonesPortName string
	healthInterval time.Duration
	reportInterval time.Duration
	emptyReturn    time.Duration // 0: never give an empty Allocated pod back
	emptyAction    agones.EmptyAction
	emptySettle    time.Duration // 0: agones.DefaultSettle(reportInterval)
	publicAddrSet  bool          // --public-addr given: the GameServer's address does not override it
	allocTimeout   time.Duration
	addressWait    time.Duration
	publicPortSet  bool
	adminToken     string
	log            *logflag.Flags // --log-format, --log-level
	router         routerConfig   // the fleet router's reports (router.go)
}

// defaultRxCoalesce is --rx-coalesce's default, chosen from the
// measurements in docs/perf/density.md.
const defaultRxCoalesce = 300 * time.Microsecond

func parseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("voxd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.net.Addr, "udp-addr", ":7000",
		"UDP address for media, host:port. An empty host listens on every interface,\nIPv6 and IPv4 (dual stack).")
	fs.IntVar(&c.net.Shards, "shards", runtime.GOMAXPROCS(0),
		fmt.Sprintf("number of sockets (SO_REUSEPORT shards) on the UDP port, each served by its own\nthread; default GOMAXPROCS, at most %d.", netio.MaxShards))
	fs.IntVar(&c.net.BatchSize, "batch-size", netio.DefaultBatchSize,
		fmt.Sprintf("most datagrams one recvmmsg call returns (1..%d).", netio.MaxBatchSize))
	fs.IntVar(&c.net.MaxDatagram, "max-datagram", netio.DefaultMaxDatagram,
		"largest UDP payload accepted, in bytes; larger datagrams are dropped and counted.")
	fs.IntVar(&c.net.SendQueue, "send-queue", netio.DefaultSendQueue,
		"datagrams each shard queues before it must flush with sendmmsg.")
	fs.DurationVar(&c.net.TickInterval, "tick", netio.DefaultTickInterval,
		"longest a shard sleeps without traffic before running its timers and control mailbox.")
	fs.DurationVar(&c.net.CoalesceBudget, "rx-coalesce", defaultRxCoalesce,
		fmt.Sprintf("adaptive receive coalescing: after a small batch at a high packet rate a shard\npauses up to this long before its next receive, so datagrams arrive in batches\n(fewer wake-ups and system calls per packet); it bounds the extra wait of a\ndatagram. Never when idle or at low rates. 0: off; at most %v. Linux.", netio.MaxCoalesceBudget))
	fs.IntVar(&c.net.RecvBuffer, "recv-buffer", netio.DefaultSocketBuffer,
		"socket receive buffer per shard, in bytes (SO_RCVBUFFORCE with CAP_NET_ADMIN,\nelse capped by net.core.rmem_max).")
	fs.IntVar(&c.net.SendBuffer, "send-buffer", netio.DefaultSocketBuffer,
		"socket send buffer per shard, in bytes.")
	fs.BoolVar(&c.net.NoSteering, "no-steering", false,
		"do not attach the SSRC steering program; the kernel spreads packets over the shards\nby address hash instead.")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:8080",
		"admin API listen address (HTTP). A non-loopback address requires a token.")
	fs.StringVar(&c.adminToken, "admin-token", "",
		"bearer token the admin API requires (/v1, /debug/pprof). Prefer --admin-token-file\nor the environment: a flag shows in the process list.")
	tokenFile := fs.String("admin-token-file", "",
		"file holding the admin token (e.g. a mounted Kubernetes Secret); surrounding\nwhitespace is ignored.")
	fs.StringVar(&c.sessions.PublicAddr, "public-addr", "",
		"media address given to clients in admission answers. Default: the --udp-addr host,\nor 127.0.0.1 when that is a wildcard (set it on a real deployment).")
	fs.IntVar(&c.sessions.PublicPort, "public-port", 0,
		"media port given to clients (e.g. the hostPort). Default: the UDP port bound.")
	fs.IntVar(&c.sessions.Limits.MaxSessions, "max-sessions", sessionmgr.DefaultMaxSessions,
		"most sessions on this pod; beyond it new sessions are refused (503).")
	fs.IntVar(&c.sessions.Limits.MaxParticipants, "max-participants", sessionmgr.DefaultMaxParticipants,
		"most participants on this pod; beyond it admissions are refused (503).")
	fs.IntVar(&c.sessions.Limits.MaxSessionParticipants, "max-session-participants", sessionmgr.DefaultMaxSessionParticipants,
		"most participants in one session (and the largest max_participants a session may ask).")
	fs.IntVar(&c.sessions.MaxSpeakers, "max-speakers", sessionmgr.DefaultMaxSpeakers,
		"forward mode: how many of the loudest speakers of each channel are forwarded (1..64); a session's max_speakers overrides it.")
	profile := fs.String("srtp-profile", media.DefaultProfile.String(),
		"default SRTP profile: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32 or AEAD_AES_128_GCM.")
	fs.DurationVar(&c.sessions.JoinTimeout, "join-timeout", sessionmgr.DefaultJoinTimeout,
		"a participant that sends no authenticated packet within this long after admission is removed.")
	fs.DurationVar(&c.sessions.IdleTimeout, "idle-timeout", sessionmgr.DefaultIdleTimeout,
		"a participant silent (no authenticated RTP or RTCP) for this long is removed.")
	fs.DurationVar(&c.sessions.ReportInterval, "rtcp-report-interval", sessionmgr.DefaultReportInterval,
		"how often each participant gets an RTCP receiver report about its stream.")
	fs.Float64Var(&c.sessions.CPUHigh, "cpu-high", sessionmgr.DefaultCPUHigh,
		"stop admitting when the smoothed CPU use reaches this percent of the container's CPU\nallowance (cgroup cpu.max, else all CPUs).")
	fs.Float64Var(&c.sessions.CPULow, "cpu-low", sessionmgr.DefaultCPULow,
		"admit again once CPU use falls below this percent (hysteresis: below --cpu-high).")
	fs.DurationVar(&c.drainDeadline, "drain-deadline", sessionmgr.DefaultDrainDeadline,
		"hard end of a drain, from its start: whatever is left is removed. Keep it below the\npod's terminationGracePeriodSeconds. SIGTERM or GameServer deletion start a drain;\nSIGINT stops at once; a second signal during a drain forces the exit.")
	fs.DurationVar(&c.drainGrace, "drain-grace", sessionmgr.DefaultDrainGrace,
		"how long a drain lets sessions end by themselves before sending reconnect notices.")
	fs.Float64Var(&c.drainRate, "drain-rate", sessionmgr.DefaultDrainRate,
		"reconnect notices per second during a drain, pod-wide (spread evenly, a session at a time).")
	fs.DurationVar(&c.drainWindow, "drain-window", sessionmgr.DefaultNoticeWindow,
		"window in each reconnect notice: the client reconnects at a random moment within it.")
	fs.Var(&c.agonesMode, "agones",
		"Agones SDK sidecar: auto (use it when AGONES_SDK_HTTP_PORT is set), on (require it),\nor off (standalone).")
	fs.DurationVar(&c.agonesWait, "agones-wait", 30*time.Second,
		"with --agones=on, how long to wait at start for the sidecar to answer before giving up.")
	fs.StringVar(&c.agonesPortName, "agones-port-name", "media",
		"the GameServer port whose hostPort clients send media to (with status.address).")
	fs.DurationVar(&c.healthInterval, "health-interval", 2*time.Second,
		"Agones health ping interval; pings stop only when a shard is wedged.")
	fs.DurationVar(&c.reportInterval, "report-interval", 5*time.Second,
		"least time between two rounds of Agones label and counter writes (each is a\nKubernetes API write); only changes are written.")
	fs.DurationVar(&c.emptyReturn, "empty-return", 5*time.Minute,
		"under Agones: an Allocated pod with no session, no participant and no admission in\n"+
			"flight for this long is given back (--empty-action), so the Fleet can scale it down;\n"+
			"0 never. Admission is held first (503 not_accepting, vox-accepting=false) for\n"+
			"--empty-settle, then the pod, if still empty, goes back and accepts again.")
	c.emptyAction = agones.EmptyReady
	fs.Var(&c.emptyAction, "empty-action",
		"with --empty-return: ready (the GameServer goes back to Ready: the Fleet may scale it\n"+
			"down or allocate it again) or shutdown (Agones Shutdown and exit 0, as after a drain).")
	fs.DurationVar(&c.emptySettle, "empty-settle", 0,
		"with --empty-return: how long admission is held before the last check, so\n"+
			"vox-accepting=false reaches the allocator and admissions in flight land. 0: max(2 ×\n"+
			"--report-interval, 3s) (a label is written within a report interval, then queued\n"+
			"by the sidecar at one write per 500 ms and seen by the allocator about 1 s later).")
	fs.DurationVar(&c.allocTimeout, "allocation-timeout", 10*time.Second,
		"how long an Agones allocation of this pod whose session has not arrived keeps its\nslot in the sessions Counter (the Counter = sessions + allocations in flight).")
	fs.DurationVar(&c.addressWait, "agones-address-wait", 30*time.Second,
		"how long to wait at start for the GameServer's address before logging an error; voxd\nis never Ready before it has the address to give clients, except after this wait\nwhen --public-addr is set.")
	c.log = logflag.Register(fs)
	c.router.register(fs)
	if err := envflag.ParseCommand(fs, "VOX_", summary, args, lookup); err != nil {
		return nil, err
	}
	if err := c.log.Validate(); err != nil {
		return nil, err
	}
	if err := c.net.Validate(); err != nil {
		return nil, err
	}
	p, err := media.ParseProfile(*profile)
	if err != nil {
		return nil, fmt.Errorf("--srtp-profile: %w", err)
	}
	c.sessions.DefaultProfile = p
	if err := c.sessions.Validate(); err != nil {
		return nil, err
	}
	if *tokenFile != "" {
		if c.adminToken != "" {
			return nil, errors.New("--admin-token and --admin-token-file are exclusive")
		}
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-token-file: %w", err)
		}
		if c.adminToken = strings.TrimSpace(string(b)); c.adminToken == "" {
			return nil, fmt.Errorf("--admin-token-file %s is empty", *tokenFile)
		}
	}
	fs.Visit(func(f *flag.Flag) {
		c.publicAddrSet = c.publicAddrSet || f.Name == "public-addr"
		c.publicPortSet = c.publicPortSet || f.Name == "public-port"
	})
	url, on, err := agones.Detect(c.agonesMode, func(k string) string { v, _ := lookup(k); return v })
	if err != nil {
		return nil, err
	}
	if on {
		c.agonesURL = url
	}
	if c.healthInterval <= 0 || c.reportInterval <= 0 || c.agonesWait <= 0 || c.allocTimeout <= 0 || c.addressWait <= 0 {
		return nil, errors.New("--health-interval, --report-interval, --agones-wait, --allocation-timeout and --agones-address-wait must be positive")
	}
	if c.emptyReturn < 0 || c.emptySettle < 0 {
		return nil, fmt.Errorf("--empty-return %v and --empty-settle %v must not be negative", c.emptyReturn, c.emptySettle)
	}
	if c.drainDeadline <= c.drainGrace || c.drainGrace < 0 || c.drainRate <= 0 || c.drainWindow < 0 {
		return nil, fmt.Errorf("--drain-deadline %v must be after --drain-grace %v, and --drain-rate positive",
			c.drainDeadline, c.drainGrace)
	}
	c.sessions.DrainDeadline = c.drainDeadline
	c.sessions.DrainExit = c.agonesURL != "" // an operator's drain ends the pod under Agones
	if err := admin.CheckExposure(c.adminAddr, c.adminToken); err != nil {
		return nil, err
	}
	if err := c.router.validate(); err != nil {
		return nil, err
	}
	if c.sessions.PublicAddr == "" {
		host := c.net.Addr[:strings.LastIndex(c.net.Addr, ":")]
		host = strings.Trim(host, "[]")
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			c.sessions.PublicAddr = a.String()
		}
	}
	return c, nil
}

// servers are what a running voxd is made of (handed to tests).
type servers struct {
	udp      *netio.Server
	sessions *sessionmgr.Manager
	admin    *admin.Server
}

// run is voxd's whole life. ready, when not nil, receives the servers once
// they serve (for tests).
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stderr io.Writer, ready chan<- servers) int {
	cfg, err := parseFlags(args, lookup, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "voxd: %v\n", err)
		return exitUsage
	}
	log := cfg.log.New(stderr)
	cfg.sessions.Logger = log
	if cfg.sessions.PublicAddr == "" {
		cfg.sessions.PublicAddr = "127.0.0.1"
		log.Warn("--public-addr not set and --udp-addr is a wildcard: admissions tell clients 127.0.0.1; set --public-addr on a real deployment")
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	s, err := start(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	log.Info("voxd serving", "udp", s.udp.LocalAddr().String(), "shards", s.udp.NumShards(),
		"steering", s.udp.Steering(), "admin", s.admin.Addr(), "admin_token", cfg.adminToken != "")
	if ready != nil {
		ready <- s
	}

	// Agones: the address, Ready, health, self-reporting and the
	// GameServer watch run in the background; voice never waits for the
	// sidecar.
	var lc *agones.Lifecycle
	deleting := make(chan struct{}, 1)
	startDone := make(chan error, 1)
	startCtx, cancelStart := context.WithCancel(ctx)
	defer cancelStart()
	// The empty return (under Agones, --empty-return > 0): emptyExit is
	// closed when it decides the pod ends (--empty-action shutdown).
	emptyExit := make(chan struct{})
	var emptyDone chan struct{} // closed when its loop has ended; nil: none
	emptyCtx, cancelEmpty := context.WithCancel(ctx)
	stopEmpty := func() {
		cancelEmpty()
		if emptyDone != nil {
			<-emptyDone
		}
	}
	defer stopEmpty()
	if cfg.agonesURL != "" {
		lc, err = newLifecycle(ctx, cfg, s, log, deleting)
		if err != nil {
			log.Error("cannot reach the Agones SDK sidecar", "err", err)
			stop(s)
			return exitFailed
		}
		go func() { startDone <- lc.Start(startCtx) }()
		if cfg.emptyReturn > 0 {
			er, err := agones.NewEmptyReturn(lc, s.sessions, agones.EmptyReturnConfig{
				After: cfg.emptyReturn, Settle: cfg.emptySettle, Action: cfg.emptyAction, Logger: log,
				OnShutdown: func() { close(emptyExit) },
			})
			if err != nil { // parseFlags checked every value
				log.Error("cannot set up the empty return", "err", err)
				stop(s)
				return exitFailed
			}
			registerEmptyReturnMetrics(s.admin, er)
			emptyDone = make(chan struct{})
			go func() { defer close(emptyDone); er.Run(emptyCtx) }()
		}
	} else {
		startDone <- nil
		log.Info("standalone: no Agones SDK sidecar (set AGONES_SDK_HTTP_PORT or --agones=on to use one)")
	}
	defer startReporter(ctx, cfg, s, lc, log)()

	janitor := time.NewTicker(time.Second)
	defer janitor.Stop()
	cpu := &cpuload.Sampler{}
	cpuErrLogged := false
	forced := false
	lastSessions := 0
	var (
		stopCause string
		// draining: voxd waits for a running drain (one it started on a
		// signal or deletion, or an API drain a signal arrived during) and
		// exits when drained; a signal now forces the exit.
		draining bool
		// drainedUp: a drain that did not ask to exit (an API drain with
		// exit false) is over and voxd stayed up; nothing runs any more,
		// so a signal or deletion now is a plain stop.
		drainedUp bool
	)
	drained := s.sessions.Drained()
	startDrain := func(why string) {
		exit := true
		st, err := s.sessions.StartDrain(why, sessionmgr.DrainRequest{Grace: sessionmgr.Duration(cfg.drainGrace),
			Rate: cfg.drainRate, Deadline: sessionmgr.Duration(cfg.drainDeadline),
			Window: sessionmgr.Duration(cfg.drainWindow), Exit: &exit})
		if errors.Is(err, sessionmgr.ErrDrainConflict) {
			log.Info("already draining; will exit when drained", "cause", why, "phase", st.Phase)
		} else if err != nil {
			log.Error("cannot start the drain", "err", err)
		}
		draining = true
	}
wait:
	for {
		select {
		case sig := <-sigs:
			switch {
			case drainedUp: // drained already: no drain to wait for, no drain to force
				stopCause = "signal " + sig.String() + " (already drained)"
				break wait
			case draining:
				log.Warn("second signal during the drain: stopping now", "signal", sig.String(),
					"participants", s.sessions.Status().Participants)
				stopCause = "forced by signal " + sig.String()
				forced = true
				break wait
			case sig == syscall.SIGTERM:
				startDrain("signal " + sig.String())
			default: // SIGINT: an operator at a terminal wants it gone now
				stopCause = "signal " + sig.String()
				break wait
			}
		case <-deleting:
			if drainedUp {
				stopCause = "GameServer deleted (already drained)"
				break wait
			}
			startDrain("GameServer deleted")
		case <-drained:
			drained = nil // closed for good: handle it once
			if draining || s.sessions.DrainExit() {
				stopCause = "drained"
				break wait
			}
			log.Info("drained; staying up (the drain did not ask to exit); SIGINT or SIGTERM stops voxd")
			drainedUp = true
		case <-emptyExit:
			stopCause = fmt.Sprintf("empty for %v (empty action shutdown)", cfg.emptyReturn)
			break wait
		case <-ctx.Done():
			stopCause = context.Cause(ctx).Error()
			break wait
		case <-s.udp.Done():
			log.Error("UDP core stopped unexpectedly")
			return exitFailed
		case now := <-janitor.C:
			s.sessions.Janitor()
			if sessions := s.sessions.Status().Sessions; lc != nil && sessions > 0 && lastSessions == 0 {
				lc.ReportSoon() // the first session: report (and self-allocate) now
			}
			lastSessions = s.sessions.Status().Sessions
			if d := s.sessions.Status().Drain; draining && d != nil && d.Phase == sessionmgr.DrainCancelled {
				// DELETE /v1/drain during the grace period of the drain voxd
				// waited for: it will never be drained; back to serving.
				log.Info("the drain was cancelled over the API; staying up (SIGTERM drains again)")
				draining = false
			}
			pct, err := cpu.Sample(now)
			if err != nil && !cpuErrLogged {
				log.Warn("cannot measure CPU use; admission by CPU is off", "err", err)
				cpuErrLogged = true
			}
			s.sessions.SetCPU(pct)
		}
	}
	stopEmpty() // no hand-over from now on
	log.Info("stopping", "cause", stopCause)
	stopped := make(chan error, 1)
	go func() { stopped <- stop(s) }()
	select {
	case err := <-stopped:
		if err != nil {
			log.Error("stop", "err", err)
			return exitFailed
		}
	case sig := <-sigs:
		log.Warn("forced exit", "signal", sig.String())
		return exitForced
	case <-time.After(15 * time.Second):
		log.Error("stop did not finish within 15 s")
		return exitFailed
	}
	if lc != nil {
		cancelStart()
		readyErr := <-startDone
		if !forced && readyErr == nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := lc.Shutdown(sctx); err != nil {
				log.Error("agones: Shutdown failed", "err", err)
			}
			cancel()
		} else {
			lc.Stop()
		}
	}
	if forced {
		return exitForced
	}
	st := s.sessions.Status().Totals
	log.Info("stopped", "rx_packets", st.RxPackets, "tx_packets", st.TxPackets, "forwarded", st.Forwarded,
		"drop_auth", st.DropAuth, "drop_unknown_ssrc", st.DropUnknownSSRC, "kernel_drops", st.KernelDrops)
	return exitOK
}

// start brings up the UDP core with the session manager's shards, then the
// admin API.
func start(cfg *config, log *slog.Logger) (servers, error) {
	// Each shard holds a P while it waits in recvmmsg (see netio): the
	// admin plane, the Agones loop and the GC get a P of their own.
	if procs := runtime.GOMAXPROCS(0); procs <= cfg.net.Shards {
		runtime.GOMAXPROCS(cfg.net.Shards + 1)
		log.Debug("GOMAXPROCS raised above the shard count", "from", procs, "to", cfg.net.Shards+1)
	}
	var s servers
	var err error
	for {
		if s.sessions, err = sessionmgr.New(cfg.sessions); err != nil {
			return s, err
		}
		if s.udp, err = netio.Listen(cfg.net, s.sessions.NewHandler, netio.Options{Logger: log}); err != nil {
			return s, err
		}
		if s.udp.Steering() || s.udp.NumShards() == 1 {
			break
		}
		// Without SSRC steering a session's packets would reach shards
		// that do not own it: one shard is slower but correct.
		log.Error("the kernel refused SSRC steering: falling back to one shard", "shards_asked", cfg.net.Shards)
		s.udp.Close()
		cfg.net.Shards = 1
	}
	if err = s.sessions.Start(s.udp); err != nil {
		s.udp.Close()
		return s, err
	}
	s.admin, err = admin.New(admin.Config{Addr: cfg.adminAddr, Token: cfg.adminToken, Logger: log}, s.sessions)
	if err == nil {
		err = s.admin.Start()
	}
	if err != nil {
		s.udp.Close()
		return s, fmt.Errorf("admin API: %w", err)
	}
	return s, nil
}

// stop refuses new work, stops the admin API (answering requests in flight),
// then the UDP core.
func stop(s servers) error {
	s.sessions.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errAdmin := s.admin.Shutdown(ctx)
	errUDP := s.udp.Close()
	return errors.Join(errAdmin, errUDP)
}

// newLifecycle makes the Agones lifecycle of a running voxd. With
// --agones=on it first waits (--agones-wait) for the sidecar to answer.
func newLifecycle(ctx context.Context, cfg *config, s servers, log *slog.Logger, deleting chan<- struct{}) (*agones.Lifecycle, error) {
	c, err := agones.New(cfg.agonesURL, agones.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.agonesMode == agones.ModeOn {
		wctx, cancel := context.WithTimeout(ctx, cfg.agonesWait)
		defer cancel()
		if _, err := agones.WaitReachable(wctx, c, 1<<30); err != nil {
			return nil, err
		}
	}
	return agones.NewLifecycle(c, pod{s}, agones.LifecycleConfig{
		HealthInterval:    cfg.healthInterval,
		ReportInterval:    cfg.reportInterval,
		PortName:          cfg.agonesPortName,
		AllocationTimeout: cfg.allocTimeout,
		AddressTimeout:    cfg.addressWait,
		// With --public-addr the pod has an address of its own for
		// clients: after the wait it may go Ready without the
		// GameServer's.
		ReadyWithoutAddress: cfg.publicAddrSet,
		Logger:              log,
		OnAddress: func(addr string, port int) {
			if cfg.publicAddrSet {
				addr = ""
			}
			if cfg.publicPortSet {
				port = 0
			}
			s.sessions.SetMediaAddr(addr, port)
		},
		OnDeleting: func() {
			select {
			case deleting <- struct{}{}:
			default:
			}
		},
	}), nil
}

// pod is what the Agones lifecycle sees of voxd.
type pod struct{ s servers }

func (p pod) Report() agones.Report {
	st := p.s.sessions.Status()
	return agones.Report{Sessions: st.Sessions, Participants: st.Participants, CPUPercent: st.CPUPercent,
		Accepting: st.Accepting, SessionCapacity: st.Limits.MaxSessions}
}

// Alive: every shard turns at least every tick (5 ms); a second without a
// turn is a wedged shard.
func (p pod) Alive() error { return p.s.udp.Alive(time.Second) }

// registerEmptyReturnMetrics adds the empty return's counts to the admin
// API's /metrics.
func registerEmptyReturnMetrics(a *admin.Server, er *agones.EmptyReturn) {
	a.Metrics().RegisterMetricsWriter(func(w io.Writer) {
		st := er.Stats()
		fmt.Fprintf(w, "# HELP vox_empty_holds_total Hand-overs of an empty Allocated pod started (--empty-return): admission held.\n"+
			"# TYPE vox_empty_holds_total counter\nvox_empty_holds_total %d\n", st.Holds)
		fmt.Fprint(w, "# HELP vox_empty_returns_total Hand-overs of an empty Allocated pod by outcome: ready (given back to Ready), "+
			"shutdown, aborted (no longer empty after the hold), failed (the Ready call failed).\n"+
			"# TYPE vox_empty_returns_total counter\n")
		for _, o := range []struct {
			name string
			n    uint64
		}{{"ready", st.Returned}, {"shutdown", st.Shutdowns}, {"aborted", st.Aborted}, {"failed", st.Failed}} {
			fmt.Fprintf(w, "vox_empty_returns_total{outcome=%q} %d\n", o.name, o.n)
		}
	})
}
