package router

import (
	"context"
	"fmt"
	"sync"
)

// MemStore is the in-memory Store of a single router replica.
type MemStore struct {
	mu       sync.Mutex                  // guards the fields below
	sessions map[string]string           // session → pod
	slots    map[string]map[uint64]*Slot // pod → slot id → slot
	nextID   uint64
	ops      memOps // the fleet operations' state (opsstore.go)
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{sessions: map[string]string{}, slots: map[string]map[uint64]*Slot{}}
}

// Lookup implements Store.
func (m *MemStore) Lookup(_ context.Context, session string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pod, ok := m.sessions[session]
	return pod, ok, nil
}

// PlaceIfAbsent implements Store.
func (m *MemStore) PlaceIfAbsent(_ context.Context, session, pod string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.sessions[session]; ok {
		return cur, false, nil
	}
	m.sessions[session] = pod
	return pod, true, nil
}

// MoveIfStill implements Store.
func (m *MemStore) MoveIfStill(_ context.Context, session, from, to string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.sessions[session]
	if !ok || cur != from {
		return cur, false, nil
	}
	m.sessions[session] = to
	return to, true, nil
}

// DeleteIfStill implements Store.
func (m *MemStore) DeleteIfStill(_ context.Context, session, pod string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions[session] != pod {
		return false, nil
	}
	delete(m.sessions, session)
	return true, nil
}

// Sessions implements Store.
func (m *MemStore) Sessions(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions), nil
}

// Reserve implements Store.
func (m *MemStore) Reserve(_ context.Context, session string, cands []Candidate) (Slot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := pick(cands, m.loadLocked)
	if i < 0 {
		return Slot{}, ErrNoRoom
	}
	return m.addLocked(Slot{Pod: cands[i].Pod, Session: session, NewSession: true}), nil
}

// Join implements Store.
func (m *MemStore) Join(_ context.Context, session, pod string) (Slot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addLocked(Slot{Pod: pod, Session: session}), nil
}

func (m *MemStore) addLocked(s Slot) Slot {
	m.nextID++
	s.ID = m.nextID
	if m.slots[s.Pod] == nil {
		m.slots[s.Pod] = map[uint64]*Slot{}
	}
	c := s
	m.slots[s.Pod][s.ID] = &c
	return s
}

// loadLocked counts pod's pending slots.
func (m *MemStore) loadLocked(pod string) (sessions, participants int) {
	for _, s := range m.slots[pod] {
		if s.NewSession {
			sessions++
		}
	}
	return sessions, len(m.slots[pod])
}

// Stamp implements Store.
func (m *MemStore) Stamp(_ context.Context, s Slot, seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.slots[s.Pod][s.ID]; p != nil {
		p.Stamped, p.Seq = true, seq
	}
	return nil
}

// Release implements Store.
func (m *MemStore) Release(_ context.Context, s Slot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.slots[s.Pod], s.ID)
	return nil
}

// Settle implements Store.
func (m *MemStore) Settle(_ context.Context, pod string, before uint64) ([]Slot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Slot
	for id, s := range m.slots[pod] {
		if s.Stamped && s.Seq < before {
			out = append(out, *s)
			delete(m.slots[pod], id)
		}
	}
	return out, nil
}

// Pending implements Store.
func (m *MemStore) Pending(_ context.Context, pod string) ([]Slot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Slot, 0, len(m.slots[pod]))
	for _, s := range m.slots[pod] {
		out = append(out, *s)
	}
	return out, nil
}

// DropPod implements Store.
func (m *MemStore) DropPod(_ context.Context, pod string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.slots, pod)
	return nil
}

// String describes the store's size (for logs).
func (m *MemStore) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("memstore: %d sessions, slots on %d pods", len(m.sessions), len(m.slots))
}
