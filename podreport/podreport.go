// Package podreport is voxd's side of the fleet router: a Reporter that
// posts the pod's report (api.PodReport) to the router every second, from
// a Source the caller provides (voxd reads its session manager's cheap
// snapshots), with backoff while the router is down and an outage logged
// once. It runs on its own goroutine; nothing on the media path waits for
// it.
//
// The reporter builds each report only after the post of the previous one
// has returned (the contract api.PodReport.Seq documents, which the router
// relies on to know which of its placements a report shows).
package podreport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
)

// Defaults of Config's zero fields.
const (
	DefaultInterval   = time.Second
	DefaultMaxBackoff = 30 * time.Second
	DefaultTimeout    = 3 * time.Second
)

// ErrBadConfig wraps the configuration errors of New.
var ErrBadConfig = errors.New("podreport: bad config")

// Config configures a Reporter.
type Config struct {
	// RouterURL is the router's base URL, e.g. "http://voxrouter:8090".
	RouterURL string
	// Token is the router's report token.
	Token string
	// Name is the pod's name (ValidID); Pool its pool ("default" if empty).
	Name, Pool string
	// AdminURL is where the router reaches this pod's admin API.
	AdminURL string
	// Hostname is the media address's DNS name, if any.
	Hostname string
	// Source fills a report with what the pod is now (Media, Limits,
	// Sessions, Participants, CPUPercent, Accepting, State, DrainPhase,
	// GameServerState); the Reporter sets the rest. It must be cheap and
	// must not block.
	Source func() api.PodReport
	// Interval between reports; MaxBackoff the longest wait while the
	// router is unreachable; Timeout bounds one post.
	Interval, MaxBackoff, Timeout time.Duration
	// HTTPClient posts the reports; nil: client.NewHTTPClient(Timeout).
	HTTPClient *http.Client
	// Logger receives the outage lines; default slog.Default().
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Reporter posts the pod's reports.
type Reporter struct {
	cfg      Config
	api      *client.API
	instance string
	seq      uint64 // of the last report built; only Run's goroutine touches it
	failures int    // consecutive failed posts; Run's goroutine only
}

// New checks cfg and returns a Reporter; nothing is sent until Run.
func New(cfg Config) (*Reporter, error) {
	if cfg.Source == nil {
		return nil, fmt.Errorf("%w: no Source", ErrBadConfig)
	}
	if !api.ValidID(cfg.Name) {
		return nil, fmt.Errorf("%w: pod name %q is not 1-64 of [A-Za-z0-9._-]", ErrBadConfig, cfg.Name)
	}
	if cfg.Pool == "" {
		cfg.Pool = "default"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c, err := client.NewAPI(cfg.RouterURL, cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("%w: router URL: %w", ErrBadConfig, err)
	}
	c.HTTPClient = cfg.HTTPClient
	if c.HTTPClient == nil {
		c.HTTPClient = client.NewHTTPClient(cfg.Timeout)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return &Reporter{cfg: cfg, api: c, instance: hex.EncodeToString(b[:])}, nil
}

// Instance is this process's instance id in the reports.
func (r *Reporter) Instance() string { return r.instance }

// Run reports every Interval until ctx ends; while the router cannot be
// reached it waits longer between tries (doubling up to MaxBackoff, with
// jitter), logging the outage once and its end once.
func (r *Reporter) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.Once(ctx)
		if ctx.Err() != nil {
			return
		}
		t.Reset(r.next(err))
	}
}

// Once builds one report and posts it (Run's step; tests call it).
func (r *Reporter) Once(ctx context.Context) error {
	rep := r.cfg.Source()
	r.seq++
	rep.Name, rep.Instance, rep.Seq, rep.At = r.cfg.Name, r.instance, r.seq, r.cfg.Now().UTC()
	rep.Pool, rep.AdminURL = r.cfg.Pool, r.cfg.AdminURL
	if rep.Hostname == "" {
		rep.Hostname = r.cfg.Hostname
	}
	if rep.Sessions == nil {
		rep.Sessions = []api.PodSession{}
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err := r.api.Report(pctx, rep)
	if err != nil {
		err = fmt.Errorf("podreport: %w", err)
	}
	return err
}

// next is the wait before the next report after one that ended with err,
// logging an outage's start and end once.
func (r *Reporter) next(err error) time.Duration {
	if err == nil {
		if r.failures > 0 {
			r.cfg.Logger.Info("router reachable again; reporting", "router", r.cfg.RouterURL, "failed_reports", r.failures)
		}
		r.failures = 0
		return r.cfg.Interval
	}
	r.failures++
	if r.failures == 1 {
		r.cfg.Logger.Warn("cannot report to the router; retrying with backoff (logged once per outage)",
			"router", r.cfg.RouterURL, "err", err)
	}
	return Backoff(r.cfg.Interval, r.cfg.MaxBackoff, r.failures)
}

// Backoff is the wait after failures consecutive failures: interval
// doubled per failure up to max, less up to a quarter of it at random (so
// a fleet does not retry in step).
func Backoff(interval, maxWait time.Duration, failures int) time.Duration {
	d := interval
	for i := 1; i < failures && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d - time.Duration(mrand.Int64N(int64(d)/4+1))
}

// Manager is what FromManager reads of voxd's session manager
// (*sessionmgr.Manager): cheap snapshots that never wait for a shard.
type Manager interface {
	Status() api.Status
	ReportSessions() []api.PodSession
	MediaAddr() api.MediaAddr
}

// FromManager returns the Source of a pod run by m; gameServerState (nil
// without Agones) gives the GameServer's state.
func FromManager(m Manager, gameServerState func() string) func() api.PodReport {
	return func() api.PodReport {
		st := m.Status()
		r := api.PodReport{Media: m.MediaAddr(), Limits: st.Limits, Sessions: m.ReportSessions(),
			Participants: st.Participants, CPUPercent: st.CPUPercent, Accepting: st.Accepting, State: st.State, Reason: st.Reason}
		if st.Drain != nil {
			r.DrainPhase = st.Drain.Phase
		}
		if gameServerState != nil {
			r.GameServerState = gameServerState()
		}
		return r
	}
}
