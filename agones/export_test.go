package agones

import "fmt"

// FlightState describes the tracker, for test assertions and failures.
func (l *Lifecycle) FlightState() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.flight
	return fmt.Sprintf("entries %d credits %d sessions %d observed %v writes %v", len(a.entries), len(a.credits), a.sessions, a.observed, a.writes)
}
