package router

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/voxfleet/vox/client"
)

// Defaults for Config's zero fields.
const (
	// DefaultStaleAfter: a pod whose last report is older gets no new
	// session (it reports every second).
	DefaultStaleAfter = 3 * time.Second
	// DefaultForgetAfter: a pod silent this long is forgotten, with its
	// sessions' mappings.
	DefaultForgetAfter = 60 * time.Second
	// DefaultReadyGrace: without any report, /readyz turns ready after this
	// long anyway (static mode: a router must be ready to be reached by
	// the pods behind the same Service).
	DefaultReadyGrace = 10 * time.Second
	// DefaultPodTimeout bounds one call to a pod.
	DefaultPodTimeout = 5 * time.Second
	// DefaultMaxAttempts bounds the pods one new session is tried on.
	DefaultMaxAttempts = 4
)

// Config configures a Router. Zero fields take the defaults.
type Config struct {
	// Store holds the session map and slots; nil means a new MemStore.
	Store Store
	// Reports shares the pods' reports with the other replicas (see
	// ReportShare); nil: this router knows only the pods reporting to it.
	Reports ReportShare
	// PodToken is the bearer token of the pods' admin API.
	PodToken string
	// PodTimeout bounds one call to a pod.
	PodTimeout time.Duration
	// HTTPClient calls the pods; nil means client.NewHTTPClient(PodTimeout).
	HTTPClient *http.Client
	// StaleAfter and ForgetAfter: see DefaultStaleAfter, DefaultForgetAfter.
	StaleAfter  time.Duration
	ForgetAfter time.Duration
	// ReadyGrace: see DefaultReadyGrace.
	ReadyGrace time.Duration
	// MaxAttempts bounds the pods one new session is tried on.
	MaxAttempts int
	// Now is the clock (time.Now when nil); tests pass their own.
	Now func() time.Time
	// Logger receives the router's log lines; default slog.Default().
	Logger *slog.Logger

	// Pools are the configured pools (pools.go): each a Fleet with its
	// own allocator (or static), weight and region. Pods reporting a pool
	// not configured form a static pool of DefaultPoolWeight.
	Pools []PoolConfig

	// Allocator, Pool and Refill configure one pool, the simple way (when
	// Pools is empty): Allocator set is Agones mode, only pods whose
	// reports say their GameServer is Allocated take sessions, and the
	// refill loop (pool.go) allocates pods through it ahead of demand. Nil
	// is static mode: every pod that reports is in the pool. Pool names it
	// (DefaultPool when empty: what voxd reports without --pool), and is
	// the Fleet its allocations ask for.
	Allocator Allocator
	Pool      string
	Refill    RefillConfig

	// Ops tunes the fleet operations: drains at a reconnect budget,
	// consolidation (drains.go).
	Ops OpsConfig
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.StaleAfter, DefaultStaleAfter)
	def(&c.ForgetAfter, DefaultForgetAfter)
	def(&c.ReadyGrace, DefaultReadyGrace)
	def(&c.PodTimeout, DefaultPodTimeout)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Store == nil {
		c.Store = NewMemStore()
	}
	if c.HTTPClient == nil {
		c.HTTPClient = client.NewHTTPClient(c.PodTimeout)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Pool == "" {
		c.Pool = DefaultPool
	}
	if len(c.Pools) == 0 && c.Allocator != nil {
		c.Pools = []PoolConfig{{Name: c.Pool, Allocator: c.Allocator, Refill: c.Refill}}
	}
	c.Refill = c.Refill.withDefaults()
	pools := make([]PoolConfig, len(c.Pools))
	for i, p := range c.Pools {
		p.Refill = p.Refill.withDefaults()
		if p.Fleet == "" {
			p.Fleet = p.Name
		}
		pools[i] = p
	}
	c.Pools = pools
	c.Ops = c.Ops.withDefaults()
	return c
}

func (c Config) validate() error {
	if c.StaleAfter < 0 || c.ForgetAfter < 0 || c.ReadyGrace < 0 || c.PodTimeout < 0 || c.MaxAttempts < 0 {
		return fmt.Errorf("%w: durations and MaxAttempts must not be negative", ErrBadConfig)
	}
	if err := c.Refill.validate(); err != nil {
		return err
	}
	if err := validatePools(c.Pools); err != nil {
		return err
	}
	if err := c.Ops.validate(); err != nil {
		return err
	}
	if c.ForgetAfter < c.StaleAfter {
		return fmt.Errorf("%w: ForgetAfter %v is shorter than StaleAfter %v", ErrBadConfig, c.ForgetAfter, c.StaleAfter)
	}
	return nil
}
