package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/voxfleet/vox/api"
)

// OpsStore holds the fleet operations' shared state (pools.go,
// drains.go): the pools' settings, the drains the router drives, and which
// replica leads them. MemStore and RedisStore implement it; a Store that
// does not gets an in-memory one (one replica).
type OpsStore interface {
	// PoolSettings returns every pool setting changed through the API.
	PoolSettings(ctx context.Context) (map[string]PoolSetting, error)
	// SetPoolSetting replaces pool's setting.
	SetPoolSetting(ctx context.Context, pool string, s PoolSetting) error
	// Drains returns the drains, by pod.
	Drains(ctx context.Context) (map[string]api.PodDrain, error)
	// PutDrain creates or replaces d (by d.Pod).
	PutDrain(ctx context.Context, d api.PodDrain) error
	// DeleteDrain forgets pod's drain.
	DeleteDrain(ctx context.Context, pod string) error
	// Lead makes holder the leader for ttl if nobody else is (or it is
	// already): true when holder leads now.
	Lead(ctx context.Context, holder string, ttl time.Duration) (bool, error)
}

var (
	_ OpsStore = (*MemStore)(nil)
	_ OpsStore = (*RedisStore)(nil)
)

// memOps is the in-memory OpsStore (MemStore's, and the fallback); with a
// state file (NewMemStoreWithState) it is written there on every change,
// so a single replica's pool settings and drains survive its restart.
type memOps struct {
	settings map[string]PoolSetting
	drains   map[string]api.PodDrain
	path     string // the state file, "" for none
}

// opsState is the state file's content.
type opsState struct {
	Pools  map[string]PoolSetting  `json:"pools"`
	Drains map[string]api.PodDrain `json:"drains"`
}

// NewMemStoreWithState returns a MemStore whose fleet operations' state
// (pool settings changed through the API, drains) is kept in the file at
// path: read now if it exists, rewritten (atomically) on every change.
// The session map and slots stay in memory: the pods' reports rebuild
// them.
func NewMemStoreWithState(path string) (*MemStore, error) {
	m := NewMemStore()
	m.ops.init()
	m.ops.path = path
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("router: state file: %w", err)
	}
	var st opsState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("router: state file %s: %w", path, err)
	}
	maps.Copy(m.ops.settings, st.Pools)
	maps.Copy(m.ops.drains, st.Drains)
	return m, nil
}

// save writes the state file (the caller holds the MemStore's mutex).
func (o *memOps) save() error {
	if o.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(opsState{Pools: o.settings, Drains: o.drains}, "", "  ")
	if err != nil {
		return err
	}
	tmp := o.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("router: state file: %w", err)
	}
	if err := os.Rename(tmp, o.path); err != nil {
		return fmt.Errorf("router: state file: %w", err)
	}
	return nil
}

func (o *memOps) init() {
	if o.settings == nil {
		o.settings, o.drains = map[string]PoolSetting{}, map[string]api.PodDrain{}
	}
}

// PoolSettings implements OpsStore.
func (m *MemStore) PoolSettings(context.Context) (map[string]PoolSetting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops.init()
	out := make(map[string]PoolSetting, len(m.ops.settings))
	for k, v := range m.ops.settings {
		out[k] = v
	}
	return out, nil
}

// SetPoolSetting implements OpsStore.
func (m *MemStore) SetPoolSetting(_ context.Context, pool string, s PoolSetting) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops.init()
	old, had := m.ops.settings[pool]
	m.ops.settings[pool] = s
	if err := m.ops.save(); err != nil {
		if had { // the change did not happen: memory stays as the file
			m.ops.settings[pool] = old
		} else {
			delete(m.ops.settings, pool)
		}
		return err
	}
	return nil
}

// Drains implements OpsStore.
func (m *MemStore) Drains(context.Context) (map[string]api.PodDrain, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops.init()
	out := make(map[string]api.PodDrain, len(m.ops.drains))
	for k, v := range m.ops.drains {
		out[k] = v
	}
	return out, nil
}

// PutDrain implements OpsStore.
func (m *MemStore) PutDrain(_ context.Context, d api.PodDrain) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops.init()
	old, had := m.ops.drains[d.Pod]
	m.ops.drains[d.Pod] = d
	if err := m.ops.save(); err != nil {
		if had {
			m.ops.drains[d.Pod] = old
		} else {
			delete(m.ops.drains, d.Pod)
		}
		return err
	}
	return nil
}

// DeleteDrain implements OpsStore.
func (m *MemStore) DeleteDrain(_ context.Context, pod string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops.init()
	old, had := m.ops.drains[pod]
	delete(m.ops.drains, pod)
	if err := m.ops.save(); err != nil && had {
		m.ops.drains[pod] = old
		return err
	} else if err != nil {
		return err
	}
	return nil
}

// Lead implements OpsStore: one replica, always the leader.
func (m *MemStore) Lead(context.Context, string, time.Duration) (bool, error) { return true, nil }

func (s *RedisStore) poolsKey() string  { return s.cfg.Prefix + "pools" }
func (s *RedisStore) drainsKey() string { return s.cfg.Prefix + "drains" }
func (s *RedisStore) leaderKey() string { return s.cfg.Prefix + "leader" }

// PoolSettings implements OpsStore.
func (s *RedisStore) PoolSettings(ctx context.Context) (map[string]PoolSetting, error) {
	m, err := s.c.HGetAll(ctx, s.poolsKey()).Result()
	if err != nil {
		return nil, s.fail(ctx, "pool settings", err)
	}
	out := make(map[string]PoolSetting, len(m))
	for k, v := range m {
		var st PoolSetting
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			s.log.Warn("router: store: a pool setting that is not JSON, ignored", "pool", k, "err", err)
			continue
		}
		out[k] = st
	}
	return out, nil
}

// SetPoolSetting implements OpsStore.
func (s *RedisStore) SetPoolSetting(ctx context.Context, pool string, st PoolSetting) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := s.c.HSet(ctx, s.poolsKey(), pool, b).Err(); err != nil {
		return s.fail(ctx, "set a pool setting", err)
	}
	return nil
}

// Drains implements OpsStore.
func (s *RedisStore) Drains(ctx context.Context) (map[string]api.PodDrain, error) {
	m, err := s.c.HGetAll(ctx, s.drainsKey()).Result()
	if err != nil {
		return nil, s.fail(ctx, "drains", err)
	}
	out := make(map[string]api.PodDrain, len(m))
	for k, v := range m {
		var d api.PodDrain
		if err := json.Unmarshal([]byte(v), &d); err != nil || d.Pod != k {
			s.log.Warn("router: store: a drain record that does not parse, ignored", "pod", k, "err", err)
			continue
		}
		out[k] = d
	}
	return out, nil
}

// PutDrain implements OpsStore.
func (s *RedisStore) PutDrain(ctx context.Context, d api.PodDrain) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := s.c.HSet(ctx, s.drainsKey(), d.Pod, b).Err(); err != nil {
		return s.fail(ctx, "put a drain", err)
	}
	return nil
}

// DeleteDrain implements OpsStore.
func (s *RedisStore) DeleteDrain(ctx context.Context, pod string) error {
	if err := s.c.HDel(ctx, s.drainsKey(), pod).Err(); err != nil {
		return s.fail(ctx, "delete a drain", err)
	}
	return nil
}

// leadScript: take the lead if free, or keep it if ours; true when ours.
var leadScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// Lead implements OpsStore: a key with a TTL, renewed by its holder.
func (s *RedisStore) Lead(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	n, err := leadScript.Run(ctx, s.c, []string{s.leaderKey()}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, s.fail(ctx, "lead", err)
	}
	return n == 1, nil
}

// opsOf returns the store's OpsStore, or an in-memory one.
func opsOf(st Store) OpsStore {
	if o, ok := st.(OpsStore); ok {
		return o
	}
	return NewMemStore()
}
