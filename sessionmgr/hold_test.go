package sessionmgr

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/voxfleet/vox/netio"
)

// A hold stops admission under its own name: an operator's stop and a
// drain neither end it nor are ended by its Release.
func TestHoldApartFromOperatorStopAndDrain(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	ctx := context.Background()
	const why = "empty for 5m0s: returning the GameServer to Ready"

	m.Hold(why)
	if st := m.Status(); st.State != StateStopped || st.Accepting || st.Reason != why {
		t.Fatalf("held: %+v", st)
	}
	if _, err := m.Admit(ctx, "s", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("admit while held: %v", err)
	}
	if _, _, err := m.PutSession(ctx, "s", SessionOptions{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("PUT while held: %v", err)
	}
	// The operator's stop is reported over the hold; resuming ends only it.
	m.StopAccepting("maintenance")
	if st := m.Status(); st.State != StateStopped || st.Reason != "maintenance" {
		t.Fatalf("held and stopped: %+v", st)
	}
	if err := m.ResumeAccepting(); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.State != StateStopped || st.Reason != why {
		t.Fatalf("resume ended the hold: %+v", st)
	}
	m.Release()
	if !m.Status().Accepting {
		t.Fatalf("not accepting after Release: %+v", m.Status())
	}
	admit(t, m, "s", "a")

	// Release does not undo an operator's stop.
	m.StopAccepting("maintenance")
	m.Hold(why)
	m.Release()
	if st := m.Status(); st.State != StateStopped || st.Reason != "maintenance" {
		t.Fatalf("Release undid the operator's stop: %+v", st)
	}
	if err := m.ResumeAccepting(); err != nil {
		t.Fatal(err)
	}

	// Nor a drain.
	m.Hold(why)
	if _, err := m.StartDrain("op", DrainRequest{Grace: Duration(time.Hour), Deadline: Duration(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	m.Release()
	if st := m.Status(); st.State != StateDraining {
		t.Fatalf("Release undid the drain: %+v", st)
	}
	if _, err := m.Admit(ctx, "s", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("admit while draining after Release: %v", err)
	}
}

// Vacant counts an admission from its booking, before its shard has it; a
// PUT session waiting for members; and is false under an operator stop, a
// drain or a close.
func TestVacantCountsAdmissionsInFlight(t *testing.T) {
	m, srv := startManager(t, Config{}, 1)
	ctx := context.Background()
	if !m.Vacant() {
		t.Fatal("a new pod is not vacant")
	}

	// An admission booked while the shard is busy: in flight, not vacant.
	sh := srv.Shard(0)
	release, running := make(chan struct{}), make(chan struct{})
	if err := sh.Post(func(int64, *netio.SendQueue) { close(running); <-release }); err != nil {
		t.Fatal(err)
	}
	<-running
	errc := make(chan error, 1)
	go func() {
		_, err := m.Admit(ctx, "s", AdmitRequest{ParticipantID: "a"})
		errc <- err
	}()
	waitFor(t, "the admission to be booked", func() bool { return m.Status().Participants == 1 })
	if m.Vacant() {
		t.Fatal("vacant with an admission in flight")
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if m.Vacant() {
		t.Fatal("vacant with a participant")
	}
	if err := m.RemoveParticipant(ctx, "s", "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "vacant after the removal", m.Vacant)

	// A session made by PUT, with nobody in it yet, is not vacant.
	if _, _, err := m.PutSession(ctx, "lobby", SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	if m.Vacant() {
		t.Fatal("vacant with a PUT session")
	}
	if err := m.DeleteSession(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if !m.Vacant() {
		t.Fatal("not vacant after the session's deletion")
	}

	// A hold leaves a vacant pod vacant; an operator stop does not.
	m.Hold("test")
	if !m.Vacant() {
		t.Fatal("held is not vacant")
	}
	m.StopAccepting("maintenance")
	if m.Vacant() {
		t.Fatal("vacant under an operator's stop")
	}
	if err := m.ResumeAccepting(); err != nil {
		t.Fatal(err)
	}
	m.Release()
	if _, err := m.StartDrain("op", DrainRequest{Grace: Duration(time.Hour), Deadline: Duration(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if m.Vacant() {
		t.Fatal("vacant while draining")
	}
	if _, err := m.CancelDrain(); err != nil {
		t.Fatal(err)
	}
	if !m.Vacant() {
		t.Fatal("not vacant after the drain's cancel")
	}
	m.Close()
	if m.Vacant() {
		t.Fatal("vacant when closed")
	}
}

// The handshake's race: an admission booked before the hold lands and
// makes the pod not vacant; one after the hold is refused and leaves no
// trace.
func TestHoldRacesAdmissions(t *testing.T) {
	m, srv := startManager(t, Config{}, 1)
	ctx := context.Background()
	sh := srv.Shard(0)
	release, running := make(chan struct{}), make(chan struct{})
	if err := sh.Post(func(int64, *netio.SendQueue) { close(running); <-release }); err != nil {
		t.Fatal(err)
	}
	<-running
	errc := make(chan error, 1)
	go func() {
		_, err := m.Admit(ctx, "early", AdmitRequest{ParticipantID: "a"})
		errc <- err
	}()
	waitFor(t, "the early admission to be booked", func() bool { return m.Status().Participants == 1 })
	m.Hold("test")
	if _, err := m.Admit(ctx, "late", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("admission after the hold: %v", err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("the admission booked before the hold: %v", err)
	}
	if m.Vacant() {
		t.Fatal("vacant after an admission landed during the hold")
	}
	if st := m.Status(); st.Sessions != 1 || st.Participants != 1 {
		t.Fatalf("books: %+v", st)
	}
	if _, err := m.Session(ctx, "late"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("the refused admission left a session: %v", err)
	}
	checkBooks(t, m)
	m.Release()
	admit(t, m, "early", "b")
}

// TestStopNewSessions: the router's retiring stop refuses new sessions
// only; members still join the sessions in progress, the pod is not
// vacant (an empty return must not hand a stopped pod back to Agones), and
// ResumeAccepting lifts it.
func TestStopNewSessions(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	admit(t, m, "s", "a")
	m.StopNewSessions("router: consolidation")
	if _, err := m.Admit(context.Background(), "t", AdmitRequest{ParticipantID: "x"}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("a new session while new sessions are stopped: %v", err)
	}
	admit(t, m, "s", "b") // a member joins its group
	if st := m.Status(); st.State != StateStopped || st.Accepting || st.Reason != "router: consolidation" {
		t.Fatalf("status %+v", st)
	}
	if err := m.RemoveParticipant(context.Background(), "s", "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveParticipant(context.Background(), "s", "b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session to end", func() bool { ss, _ := m.Sessions(context.Background()); return len(ss) == 0 })
	if m.Vacant() {
		t.Fatal("vacant while new sessions are stopped")
	}
	if err := m.ResumeAccepting(); err != nil {
		t.Fatal(err)
	}
	if !m.Status().Accepting {
		t.Fatal("not accepting after resume")
	}
	admit(t, m, "t", "x")
}
