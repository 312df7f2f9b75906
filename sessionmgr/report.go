package sessionmgr

import "github.com/voxfleet/vox/api"

// What voxd reports about itself to the fleet router (cmd/voxd's
// reporter): cheap reads of the books, under the Manager's mutex only,
// never waiting for a shard.

// ReportSessions returns every session's id with its member count
// (admissions in flight included), in no particular order.
func (m *Manager) ReportSessions() []api.PodSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.PodSession, 0, len(m.sessions))
	for id, s := range m.sessions {
		out = append(out, api.PodSession{ID: id, Participants: len(s.members)})
	}
	return out
}

// MediaAddr returns the address and port admissions give clients now; the
// zero MediaAddr before Start.
func (m *Manager) MediaAddr() MediaAddr {
	select {
	case <-m.started:
	default:
		return MediaAddr{}
	}
	return m.mediaAddr() // srv is set before started is closed
}
