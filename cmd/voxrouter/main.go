// Command voxrouter is vox's fleet router: the one API a game backend
// calls to admit participants, placing each session on one voxd pod (the
// fullest with room) and proxying its members' admissions there. Pods
// report themselves to it (voxd --router). See docs/router.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/cmd/internal/logflag"
	"github.com/voxfleet/vox/router"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // could not start, or stopped uncleanly
	exitUsage  = 2 // bad flags or environment
	exitForced = 3 // a second signal forced the exit
)

const summary = `voxrouter — vox's fleet router: places voice sessions on voxd pods.

Usage: voxrouter [flags]

A game backend admits participants here exactly as it would on one voxd
(POST /v1/sessions/{id}/participants): the router sends every member of a
session to the session's pod and places new sessions on the fullest pod
with room. Pods report themselves every second (voxd --router URL
--router-token T). Every flag can also be set with its VOX_* environment
variable. SIGTERM or SIGINT: stop taking requests, finish those in flight,
exit 0; a second signal forces the exit.`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stderr, nil))
}

// config is voxrouter's configuration.
type config struct {
	addr        string
	token       string
	reportToken string
	podToken    string
	router      router.Config
	agones      agonesFlags
	redis       router.RedisConfig // Addr empty: the in-memory store
	log         *logflag.Flags     // --log-format, --log-level
	local       localFleet
	ops         opsFlags
}

func parseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("voxrouter", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", router.DefaultAddr,
		"listen address of the router's API (HTTP). A non-loopback address requires --token\nand --report-token.")
	fs.StringVar(&c.token, "token", "",
		"bearer token the game backend's calls must carry (/v1 but the reports). Prefer\n--token-file or the environment: a flag shows in the process list.")
	tokenFile := fs.String("token-file", "", "file holding --token (e.g. a mounted Secret).")
	fs.StringVar(&c.reportToken, "report-token", "",
		"bearer token of the pods' reports (voxd's --router-token).")
	reportFile := fs.String("report-token-file", "", "file holding --report-token.")
	fs.StringVar(&c.podToken, "pod-token", "",
		"bearer token of the pods' admin API (voxd's --admin-token), sent on every call to a pod.")
	podFile := fs.String("pod-token-file", "", "file holding --pod-token.")
	fs.DurationVar(&c.router.StaleAfter, "stale-after", router.DefaultStaleAfter,
		"a pod whose last report is older gets no new session (pods report every second).")
	fs.DurationVar(&c.router.ForgetAfter, "forget-after", router.DefaultForgetAfter,
		"a pod silent this long is forgotten, with the mapping of its sessions.")
	fs.DurationVar(&c.router.ReadyGrace, "ready-grace", router.DefaultReadyGrace,
		"/readyz turns ready once a pod has reported, or after this long without any.")
	fs.DurationVar(&c.router.PodTimeout, "pod-timeout", router.DefaultPodTimeout,
		"longest call to a pod (an admission, a removal).")
	fs.StringVar(&c.redis.Addr, "redis", "",
		"Redis host:port shared by several router replicas (session map, slots, the pods'\nreports). Empty: the in-memory store of a single replica.")
	redisPassFile := fs.String("redis-password-file", "", "file holding Redis's password (AUTH), e.g. a mounted Secret.")
	fs.StringVar(&c.redis.Prefix, "redis-prefix", router.DefaultRedisPrefix,
		"prefix of every Redis key (fleets sharing one Redis need their own; keep it a {hash tag}\non a Redis Cluster).")
	c.log = logflag.Register(fs)
	c.agones.register(fs)
	c.local.flags(fs)
	c.ops.register(fs)
	if err := envflag.ParseCommand(fs, "VOX_", summary, args, lookup); err != nil {
		return nil, err
	}
	if err := c.log.Validate(); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		name string
		v    *string
		file string
	}{{"token", &c.token, *tokenFile}, {"report-token", &c.reportToken, *reportFile}, {"pod-token", &c.podToken, *podFile}} {
		if err := readTokenFile(t.name, t.v, t.file); err != nil {
			return nil, err
		}
	}
	if *redisPassFile != "" {
		if c.redis.Addr == "" {
			return nil, errors.New("--redis-password-file needs --redis")
		}
		if err := readTokenFile("redis-password", &c.redis.Password, *redisPassFile); err != nil {
			return nil, err
		}
	}
	if c.redis.Addr != "" {
		if _, _, err := net.SplitHostPort(c.redis.Addr); err != nil {
			return nil, fmt.Errorf("--redis %q: want host:port: %w", c.redis.Addr, err)
		}
	}
	if c.router.StaleAfter <= 0 || c.router.ForgetAfter < c.router.StaleAfter || c.router.PodTimeout <= 0 || c.router.ReadyGrace < 0 {
		return nil, errors.New("--stale-after and --pod-timeout must be positive, --forget-after at least --stale-after")
	}
	if err := router.CheckExposure(c.addr, c.token, c.reportToken); err != nil {
		return nil, err
	}
	if err := c.agones.check(); err != nil {
		return nil, err
	}
	c.router.Pool = c.agones.pool
	if err := c.local.validate(); err != nil {
		return nil, err
	}
	if err := c.ops.check(&c.agones); err != nil {
		return nil, err
	}
	if c.ops.stateFile != "" && c.redis.Addr != "" {
		return nil, errors.New("--state-file and --redis are exclusive: with Redis the state is there")
	}
	if c.ops.poolsFile != "" {
		if c.local.pods > 0 {
			return nil, errors.New("--pools and --local-fleet are exclusive")
		}
		if _, _, err := readPools(c.ops.poolsFile); err != nil {
			return nil, err
		}
	}
	c.router.Ops = c.ops.ops
	c.router.PodToken = c.podToken
	return c, nil
}

// readTokenFile sets *v from file when file is given (exclusive with the
// flag itself).
func readTokenFile(name string, v *string, file string) error {
	if file == "" {
		return nil
	}
	if *v != "" {
		return fmt.Errorf("--%s and --%s-file are exclusive", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--%s-file: %w", name, err)
	}
	if *v = strings.TrimSpace(string(b)); *v == "" {
		return fmt.Errorf("--%s-file %s is empty", name, file)
	}
	return nil
}

// run is voxrouter's whole life. ready, when not nil, receives the server
// once it serves (for tests); ctx ending stops it like a signal.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stderr io.Writer, ready chan<- *router.Server) int {
	cfg, err := parseFlags(args, lookup, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "voxrouter: %v\n", err)
		return exitUsage
	}
	log := cfg.log.New(stderr)
	cfg.router.Logger = log

	var startFleet func(routerURL string) error // --local-fleet
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	alloc, kube, err := cfg.agones.build(log)
	if err != nil {
		fmt.Fprintf(stderr, "voxrouter: --allocator %s: %v\n", cfg.agones.allocator, err)
		return exitUsage
	}
	cfg.router.Allocator = alloc
	watches := []builtPool{{flags: cfg.agones, kube: kube}}
	if cfg.ops.poolsFile != "" {
		confs, built, err := buildPools(cfg.ops.poolsFile, log)
		if err != nil {
			fmt.Fprintf(stderr, "voxrouter: %v\n", err)
			return exitUsage
		}
		cfg.router.Pools, watches = confs, built
	}
	if cfg.redis.Addr != "" {
		redis.SetLogger(redisLogger{log})
		cfg.redis.Logger = log
		cfg.redis.ShareReports = true
		cfg.redis.ReportTTL = cfg.router.ForgetAfter
		cfg.redis.SlotTTL = 4 * cfg.router.PodTimeout
		cfg.redis.RebuildWait = cfg.router.StaleAfter
		st, err := router.NewRedisStore(cfg.redis)
		if err != nil {
			log.Error("cannot start", "err", err)
			return exitFailed
		}
		defer st.Close()
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := st.Ping(pctx); err != nil {
			// Not fatal: the router starts degraded and recovers when
			// Redis answers (a Deployment's replicas may start first).
			log.Warn("redis does not answer yet: no new placement until it does", "addr", cfg.redis.Addr, "err", err)
		}
		cancel()
		cfg.router.Store, cfg.router.Reports = st, st
	}
	if cfg.ops.stateFile != "" {
		st, err := router.NewMemStoreWithState(cfg.ops.stateFile)
		if err != nil {
			log.Error("cannot start", "err", err)
			return exitFailed
		}
		cfg.router.Store = st
	}
	if cfg.local.pods > 0 {
		fleet, err := cfg.local.start(cfg, log)
		if err != nil {
			log.Error("cannot start the local fleet", "err", err)
			return exitFailed
		}
		defer fleet.Close()
		cfg.router.Allocator = fleet.Allocator() // its pods report the router's --pool
		startFleet = func(url string) error { return fleet.Run(url) }
	}
	r, err := router.New(cfg.router)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	wctx, stopWatch := context.WithCancel(context.Background())
	var watchDone []<-chan struct{}
	defer func() {
		stopWatch()
		for _, d := range watchDone {
			<-d
		}
	}()
	for _, w := range watches {
		done, err := w.flags.startWatch(wctx, w.kube, r, log)
		if err != nil {
			log.Error("cannot start", "err", err)
			return exitFailed
		}
		watchDone = append(watchDone, done)
	}
	srv, err := router.NewServer(router.ServerConfig{Addr: cfg.addr, Token: cfg.token, ReportToken: cfg.reportToken, Logger: log}, r)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	log.Info("voxrouter serving", "addr", srv.Addr(), "token", cfg.token != "", "report_token", cfg.reportToken != "",
		"stale_after", cfg.router.StaleAfter, "forget_after", cfg.router.ForgetAfter,
		"allocator", allocatorName(cfg), "fleet", cfg.agones.fleet, "namespace", cfg.agones.namespace, "gameserver_watch", kube != nil, "store", storeName(cfg),
		"reconnect_budget", cfg.ops.ops.Budget, "max_draining", cfg.ops.ops.MaxDraining, "consolidation", !cfg.ops.ops.NoConsolidation)
	if startFleet != nil {
		if err := startFleet("http://" + srv.Addr()); err != nil {
			log.Error("cannot start the local fleet", "err", err)
			_ = srv.Shutdown(context.Background())
			return exitFailed
		}
		cfg.local.usage(stderr, srv.Addr(), cfg.token != "")
	}
	if ready != nil {
		ready <- srv
	}
	var cause string
	select {
	case sig := <-sigs:
		cause = "signal " + sig.String()
	case <-ctx.Done():
		cause = context.Cause(ctx).Error()
	}
	log.Info("stopping: finishing the requests in flight", "cause", cause)
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stopped <- srv.Shutdown(sctx)
	}()
	select {
	case err := <-stopped:
		if err != nil {
			log.Error("stop", "err", err)
			return exitFailed
		}
	case sig := <-sigs:
		log.Warn("forced exit", "signal", sig.String())
		return exitForced
	}
	log.Info("stopped")
	return exitOK
}

// allocatorName says which allocator fills the pool (for the start line).
func allocatorName(c *config) string {
	if c.local.pods > 0 {
		return "simulated"
	}
	if c.ops.poolsFile != "" {
		return "per pool (" + c.ops.poolsFile + ")"
	}
	return c.agones.allocator
}

// storeName says which store the router uses (for the start line).
func storeName(c *config) string {
	if c.redis.Addr == "" {
		if c.ops.stateFile != "" {
			return "memory, state in " + c.ops.stateFile
		}
		return "memory"
	}
	return "redis " + c.redis.Addr + " prefix " + c.redis.Prefix
}

// redisLogger sends go-redis's own lines (dial failures, one per
// attempt) to the log at debug: the store logs an outage once, at warn.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis: " + fmt.Sprintf(format, v...))
}
