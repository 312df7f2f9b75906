package agonestest

import "github.com/voxfleet/vox/agones"

// MarkAllocated allocates the GameServer as an allocator would pick it: a
// Ready or Allocated GameServer that is not being deleted becomes
// Allocated (the same state again is no change), and every watch stream
// sees it. It reports whether the GameServer could be allocated. Counters
// are left alone.
func (s *Sidecar) MarkAllocated() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.gs.Status.State
	if (st != agones.StateReady && st != agones.StateAllocated) || s.gs.ObjectMeta.DeletionTimestamp != 0 {
		return false
	}
	s.setStateLocked(agones.StateAllocated)
	return true
}
