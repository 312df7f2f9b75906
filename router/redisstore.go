package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of RedisConfig's zero fields.
const (
	// DefaultRedisPrefix prefixes every key. The braces are a Redis
	// Cluster hash tag: all the keys map to one slot, as the scripts
	// need.
	DefaultRedisPrefix = "{vox}:"
	// DefaultRedisTimeout bounds each dial, read and write to Redis.
	DefaultRedisTimeout = 500 * time.Millisecond
	// DefaultSlotTTL: a slot of a replica that died mid-admission is
	// dropped after this long (a few times the pod timeout; an admission
	// tries up to DefaultMaxAttempts pods).
	DefaultSlotTTL = 4 * DefaultPodTimeout
	// DefaultRedisCacheSize bounds the local copy of session → pod used
	// while Redis cannot be reached.
	DefaultRedisCacheSize = 1 << 16
)

// RedisConfig configures a RedisStore.
type RedisConfig struct {
	// Addr is Redis's host:port.
	Addr string
	// Password is Redis's (AUTH); Username its ACL user, if any.
	Username, Password string
	// DB is the database number.
	DB int
	// Prefix prefixes every key (DefaultRedisPrefix when empty): several
	// fleets can share one Redis with their own prefixes.
	Prefix string
	// Timeout bounds each dial, read and write (DefaultRedisTimeout): a
	// Redis that does not answer fails the call; nothing waits longer.
	Timeout time.Duration
	// SlotTTL: see DefaultSlotTTL.
	SlotTTL time.Duration
	// ReportTTL is how long a shared report outlives its pod's silence:
	// the router's ForgetAfter (DefaultForgetAfter when zero).
	ReportTTL time.Duration
	// ShareReports: the store also carries the pods' reports between
	// replicas (Config.Reports is this store). Reserve then takes each
	// pod's load from its latest shared report, whichever replica
	// received it, and skips a pod that has none.
	ShareReports bool
	// RebuildWait: after the store finds Redis empty (new, or restarted
	// without its data), Reserve refuses (ErrStoreUnavailable) for this
	// long, while the pods' reports map their sessions again, so that a
	// member of an existing session is never placed as a new one on
	// another pod. Zero: DefaultStaleAfter (every live pod has reported
	// within it); negative: no wait.
	RebuildWait time.Duration
	// CacheSize bounds the local copy of session → pod that answers
	// Lookup while Redis cannot be reached (DefaultRedisCacheSize).
	CacheSize int
	// Logger receives the outage and rebuild lines (slog.Default()).
	Logger *slog.Logger
}

// RedisStore is the Store shared by several router replicas through one
// Redis (github.com/redis/go-redis/v9). Every method that decides is one
// Lua script (redisscripts.go), so two replicas never split a session nor
// take one pod's last room twice. It also shares the pods' reports
// between replicas (ReportShare).
//
// While Redis cannot be reached, Lookup answers from a local cache of the
// sessions this replica saw, Join takes no slot (the pod still decides),
// and the methods that place (Reserve, PlaceIfAbsent, MoveIfStill) fail
// with ErrStoreUnavailable at once. No call waits more than a few
// Timeouts.
type RedisStore struct {
	c      *redis.Client
	cfg    RedisConfig
	log    *slog.Logger
	keySes string // the sessions hash
	keyID  string // the slot id counter
	keyPod string // the pods set

	mu           sync.Mutex        // guards the fields below
	boot         string            // the boot id this store last saw
	rebuildUntil time.Time         // Reserve refuses until then
	cache        map[string]string // session → pod, for outages

	down atomic.Bool // the last call failed: logged once per outage
}

var (
	_ Store       = (*RedisStore)(nil)
	_ ReportShare = (*RedisStore)(nil)
	_ bulkPlacer  = (*RedisStore)(nil)
)

// NewRedisStore connects to Redis (lazily: the first call dials) and
// returns the store. Close releases its connections.
func NewRedisStore(cfg RedisConfig) (*RedisStore, error) {
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%w: Redis address is empty", ErrBadConfig)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultRedisPrefix
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRedisTimeout
	}
	if cfg.SlotTTL <= 0 {
		cfg.SlotTTL = DefaultSlotTTL
	}
	if cfg.ReportTTL <= 0 {
		cfg.ReportTTL = DefaultForgetAfter
	}
	if cfg.RebuildWait == 0 {
		cfg.RebuildWait = DefaultStaleAfter
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultRedisCacheSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &RedisStore{cfg: cfg, log: cfg.Logger, keySes: cfg.Prefix + "sessions", keyID: cfg.Prefix + "slotid",
		keyPod: cfg.Prefix + "pods", cache: map[string]string{}}
	s.c = redis.NewClient(&redis.Options{
		Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
		DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout, PoolTimeout: cfg.Timeout,
		// One retry on a fresh connection (the first call after a
		// restart meets a dead pooled one), one dial attempt: an outage
		// fails calls at once instead of queueing them.
		MaxRetries: 1, DialerRetries: 1,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
		OnConnect:             s.onConnect,
		// Not a managed Redis: no CLIENT MAINT_NOTIFICATIONS on connect.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	return s, nil
}

// Close closes the connections to Redis.
func (s *RedisStore) Close() error { return s.c.Close() }

// Ping checks that Redis answers.
func (s *RedisStore) Ping(ctx context.Context) error {
	return s.fail(ctx, "ping", s.c.Ping(ctx).Err())
}

// onConnect runs on every new connection: it notices an empty Redis (the
// boot key is missing, or another replica set a new one since this
// store last looked) and starts the rebuild wait.
func (s *RedisStore) onConnect(ctx context.Context, cn *redis.Conn) error {
	key := s.cfg.Prefix + "boot"
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	set, err := cn.SetNX(ctx, key, id, 0).Result()
	if err != nil {
		return fmt.Errorf("redis: boot key: %w", err)
	}
	if !set {
		if id, err = cn.Get(ctx, key).Result(); err != nil {
			return fmt.Errorf("redis: boot key: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.boot == id {
		return nil
	}
	first := s.boot == ""
	s.boot = id
	if first && !set {
		return nil // this store's first look at a Redis already in use
	}
	if s.cfg.RebuildWait > 0 {
		s.rebuildUntil = time.Now().Add(s.cfg.RebuildWait)
	}
	s.log.Warn("redis: the store is empty (new, or restarted without its data): no new placement until the pods' reports have mapped their sessions again",
		"addr", s.cfg.Addr, "wait", s.cfg.RebuildWait)
	return nil
}

// rebuilding reports whether the rebuild wait is on.
func (s *RedisStore) rebuilding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.rebuildUntil)
}

// fail turns a Redis error into the store's: the caller's own context
// ending as it is, anything else ErrStoreUnavailable. It logs the start
// and the end of an outage once each.
func (s *RedisStore) fail(ctx context.Context, op string, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		if s.down.CompareAndSwap(true, false) {
			s.log.Info("redis: reachable again", "addr", s.cfg.Addr)
		}
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("redis %s: %w", op, context.Cause(ctx))
	}
	// A call failing during the rebuild wait (a dead pooled connection
	// after the restart) may be a report that did not map its sessions:
	// the wait starts again.
	s.mu.Lock()
	if now := time.Now(); now.Before(s.rebuildUntil) {
		s.rebuildUntil = now.Add(s.cfg.RebuildWait)
	}
	s.mu.Unlock()
	if s.down.CompareAndSwap(false, true) {
		s.log.Warn("redis: unreachable: no new placement until it is back; members of the sessions this replica knows still join",
			"addr", s.cfg.Addr, "op", op, "err", err)
	}
	return fmt.Errorf("%w: redis %s: %w", ErrStoreUnavailable, op, err)
}

func (s *RedisStore) slotsKey(pod string) string  { return s.cfg.Prefix + "slots:" + pod }
func (s *RedisStore) reportKey(pod string) string { return s.cfg.Prefix + "pod:" + pod }

// remember caches session → pod ("" forgets it).
func (s *RedisStore) remember(session, pod string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pod == "" {
		delete(s.cache, session)
		return
	}
	if _, ok := s.cache[session]; !ok && len(s.cache) >= s.cfg.CacheSize {
		for k := range s.cache { // drop any one: the map's order is random
			delete(s.cache, k)
			break
		}
	}
	s.cache[session] = pod
}

func (s *RedisStore) cached(session string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pod, ok := s.cache[session]
	return pod, ok
}

// Lookup implements Store. While Redis cannot be reached, and while it is
// rebuilt after a restart, a session this replica saw is answered from
// its local cache.
func (s *RedisStore) Lookup(ctx context.Context, session string) (string, bool, error) {
	pod, err := s.c.HGet(ctx, s.keySes, session).Result()
	switch {
	case err == nil:
		_ = s.fail(ctx, "lookup", nil)
		s.remember(session, pod)
		return pod, true, nil
	case errors.Is(err, redis.Nil):
		_ = s.fail(ctx, "lookup", nil)
		if pod, ok := s.cached(session); ok && s.rebuilding() {
			return pod, true, nil
		}
		s.remember(session, "")
		return "", false, nil
	}
	err = s.fail(ctx, "lookup", err)
	if pod, ok := s.cached(session); ok && ctx.Err() == nil {
		return pod, true, nil
	}
	return "", false, err
}

// pair reads a script's {string, 0/1} answer.
func pair(v any) (string, bool, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", false, fmt.Errorf("redis: unexpected script answer %v", v)
	}
	str, _ := a[0].(string)
	n, _ := a[1].(int64)
	return str, n == 1, nil
}

// errRebuilding refuses a placement during the rebuild wait.
var errRebuilding = fmt.Errorf("%w: redis was emptied: rebuilding the session map from the pods' reports", ErrStoreUnavailable)

// PlaceIfAbsent implements Store (scriptPlace). During the rebuild wait
// it refuses (ErrStoreUnavailable): the session may be on a pod whose
// report has not mapped it yet. A placement that reached an empty Redis
// just restarted (noticed while it ran) is undone, for the same reason.
// The reports themselves map their sessions with PlaceAllIfAbsent.
func (s *RedisStore) PlaceIfAbsent(ctx context.Context, session, pod string) (string, bool, error) {
	if s.rebuilding() {
		return "", false, errRebuilding
	}
	v, err := scriptPlace.Run(ctx, s.c, []string{s.keySes}, session, pod).Result()
	if err := s.fail(ctx, "place", err); err != nil {
		return "", false, err
	}
	cur, placed, err := pair(v)
	if err != nil {
		return "", false, err
	}
	if placed && s.rebuilding() {
		_, _ = s.DeleteIfStill(context.WithoutCancel(ctx), session, pod)
		return "", false, errRebuilding
	}
	s.remember(session, cur)
	return cur, placed, nil
}

// PlaceAllIfAbsent implements bulkPlacer (scriptPlaceAll): a report's
// sessions in one round trip.
func (s *RedisStore) PlaceAllIfAbsent(ctx context.Context, pod string, sessions []string) ([]Placement, error) {
	args := make([]any, 0, 1+len(sessions))
	args = append(args, pod)
	for _, id := range sessions {
		args = append(args, id)
	}
	v, err := scriptPlaceAll.Run(ctx, s.c, []string{s.keySes}, args...).Result()
	if err := s.fail(ctx, "place all", err); err != nil {
		return nil, err
	}
	a, ok := v.([]any)
	if !ok || len(a) != len(sessions) {
		return nil, fmt.Errorf("redis: unexpected script answer %v", v)
	}
	out := make([]Placement, len(a))
	for i, x := range a {
		cur, placed, err := pair(x)
		if err != nil {
			return nil, err
		}
		out[i] = Placement{Pod: cur, Placed: placed}
	}
	return out, nil
}

// MoveIfStill implements Store (scriptMove).
func (s *RedisStore) MoveIfStill(ctx context.Context, session, from, to string) (string, bool, error) {
	v, err := scriptMove.Run(ctx, s.c, []string{s.keySes}, session, from, to).Result()
	if err := s.fail(ctx, "move", err); err != nil {
		return "", false, err
	}
	cur, moved, err := pair(v)
	if err == nil {
		s.remember(session, cur)
	}
	return cur, moved, err
}

// DeleteIfStill implements Store (scriptDelete).
func (s *RedisStore) DeleteIfStill(ctx context.Context, session, pod string) (bool, error) {
	n, err := scriptDelete.Run(ctx, s.c, []string{s.keySes}, session, pod).Int()
	if err := s.fail(ctx, "delete", err); err != nil {
		return false, err
	}
	if n == 1 {
		s.remember(session, "")
	}
	return n == 1, nil
}

// Sessions implements Store.
func (s *RedisStore) Sessions(ctx context.Context) (int, error) {
	n, err := s.c.HLen(ctx, s.keySes).Result()
	return int(n), s.fail(ctx, "sessions", err)
}

// Reserve implements Store (scriptReserve). During the rebuild wait after
// Redis was found empty it refuses with ErrStoreUnavailable.
func (s *RedisStore) Reserve(ctx context.Context, session string, cands []Candidate) (Slot, error) {
	if s.rebuilding() {
		return Slot{}, errRebuilding
	}
	if len(cands) == 0 {
		return Slot{}, ErrNoRoom
	}
	// By name, so that the script's "first wins a tie" is MemStore's
	// "smaller name wins".
	cands = slices.Clone(cands)
	slices.SortFunc(cands, func(a, b Candidate) int { return strings.Compare(a.Pod, b.Pod) })
	keys := make([]string, 0, 1+2*len(cands))
	keys = append(keys, s.keyID)
	shared := "0"
	if s.cfg.ShareReports {
		shared = "1"
	}
	args := make([]any, 0, 3+5*len(cands))
	args = append(args, session, s.cfg.SlotTTL.Milliseconds(), shared)
	for _, c := range cands {
		keys = append(keys, s.slotsKey(c.Pod), s.reportKey(c.Pod))
		args = append(args, c.Pod, c.Sessions, c.Participants, c.MaxSessions, c.MaxParticipants)
	}
	v, err := scriptReserve.Run(ctx, s.c, keys, args...).Result()
	if errors.Is(err, redis.Nil) {
		_ = s.fail(ctx, "reserve", nil)
		return Slot{}, ErrNoRoom
	}
	if err := s.fail(ctx, "reserve", err); err != nil {
		return Slot{}, err
	}
	pod, id, err := podAndID(v)
	if err != nil {
		return Slot{}, err
	}
	slot := Slot{ID: id, Pod: pod, Session: session, NewSession: true}
	// A restart noticed while the script ran (on a fresh connection after
	// a retry): the slot went to an empty Redis; give it back.
	if s.rebuilding() {
		_ = s.Release(context.WithoutCancel(ctx), slot)
		return Slot{}, errRebuilding
	}
	return slot, nil
}

func podAndID(v any) (string, uint64, error) {
	a, ok := v.([]any)
	if ok && len(a) == 2 {
		pod, ok1 := a[0].(string)
		id, ok2 := a[1].(int64)
		if ok1 && ok2 && id > 0 {
			return pod, uint64(id), nil
		}
	}
	return "", 0, fmt.Errorf("redis: unexpected reserve answer %v", v)
}

// Join implements Store (scriptJoin). While Redis cannot be reached it
// takes no slot (ID 0: Stamp and Release ignore it) and does not fail:
// the pod decides whether it has room.
func (s *RedisStore) Join(ctx context.Context, session, pod string) (Slot, error) {
	id, err := scriptJoin.Run(ctx, s.c, []string{s.keyID, s.slotsKey(pod)}, session, s.cfg.SlotTTL.Milliseconds()).Int64()
	if err := s.fail(ctx, "join", err); err != nil {
		if ctx.Err() != nil {
			return Slot{}, err
		}
		return Slot{Pod: pod, Session: session}, nil
	}
	return Slot{ID: uint64(id), Pod: pod, Session: session}, nil
}

// Stamp implements Store (scriptStamp): the seq stamped is the higher of
// seq and the pod's latest shared report's.
func (s *RedisStore) Stamp(ctx context.Context, sl Slot, seq uint64) error {
	if sl.ID == 0 {
		return nil
	}
	err := scriptStamp.Run(ctx, s.c, []string{s.slotsKey(sl.Pod), s.reportKey(sl.Pod)}, sl.ID, seq).Err()
	return s.fail(ctx, "stamp", err)
}

// Release implements Store (one HDEL: nothing to decide).
func (s *RedisStore) Release(ctx context.Context, sl Slot) error {
	if sl.ID == 0 {
		return nil
	}
	return s.fail(ctx, "release", s.c.HDel(ctx, s.slotsKey(sl.Pod), strconv.FormatUint(sl.ID, 10)).Err())
}

// Settle implements Store (scriptSettle).
func (s *RedisStore) Settle(ctx context.Context, pod string, before uint64) ([]Slot, error) {
	v, err := scriptSettle.Run(ctx, s.c, []string{s.slotsKey(pod), s.reportKey(pod)}, before).Result()
	if err := s.fail(ctx, "settle", err); err != nil {
		return nil, err
	}
	return parseSlots(pod, v)
}

// Pending implements Store (scriptPending).
func (s *RedisStore) Pending(ctx context.Context, pod string) ([]Slot, error) {
	v, err := scriptPending.Run(ctx, s.c, []string{s.slotsKey(pod)}).Result()
	if err := s.fail(ctx, "pending", err); err != nil {
		return nil, err
	}
	return parseSlots(pod, v)
}

// DropPod implements Store (one DEL).
func (s *RedisStore) DropPod(ctx context.Context, pod string) error {
	return s.fail(ctx, "drop pod", s.c.Del(ctx, s.slotsKey(pod)).Err())
}

// parseSlots reads {id, "deadline|new|stamped|seq|session", ...}.
func parseSlots(pod string, v any) ([]Slot, error) {
	a, ok := v.([]any)
	if !ok || len(a)%2 != 0 {
		return nil, fmt.Errorf("redis: unexpected slots answer %v", v)
	}
	out := make([]Slot, 0, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		idStr, _ := a[i].(string)
		val, _ := a[i+1].(string)
		id, err := strconv.ParseUint(idStr, 10, 64)
		f := strings.SplitN(val, "|", 5)
		if err != nil || len(f) != 5 {
			return nil, fmt.Errorf("redis: bad slot %q: %q", idStr, val)
		}
		seq, err := strconv.ParseUint(f[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis: bad slot %q: %q", idStr, val)
		}
		out = append(out, Slot{ID: id, Pod: pod, Session: f[4], NewSession: f[1] == "1", Stamped: f[2] == "1", Seq: seq})
	}
	return out, nil
}

// String describes the store (for logs).
func (s *RedisStore) String() string {
	return "redis " + s.cfg.Addr + " prefix " + strconv.Quote(s.cfg.Prefix)
}
