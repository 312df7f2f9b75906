package sessionmgr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func TestAdmissionByCPUWithHysteresis(t *testing.T) {
	logs := &lockedBuf{}
	m, _ := startManager(t, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}, 1)
	ctx := context.Background()
	admit(t, m, "existing", "a")

	m.SetCPU(50)
	if !m.Status().Accepting {
		t.Fatal("not accepting at 50%")
	}
	m.SetCPU(76) // over the high mark (75)
	st := m.Status()
	if st.Accepting || st.State != StateFull || !strings.Contains(st.Reason, "CPU") || st.CPUPercent != 76 {
		t.Fatalf("at 76%%: %+v", st)
	}
	if _, err := m.Admit(ctx, "new", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("new session at 76%%: %v", err)
	}
	if _, err := m.Admit(ctx, "existing", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("join at 76%%: %v", err)
	}
	// Flapping between the marks changes nothing and logs nothing new.
	for _, p := range []float64{70, 74, 61, 76, 65, 60} {
		m.SetCPU(p)
		if m.Status().Accepting {
			t.Fatalf("accepting again at %.0f%% (low mark 60)", p)
		}
	}
	m.SetCPU(59)
	if !m.Status().Accepting {
		t.Fatal("not accepting below the low mark")
	}
	admit(t, m, "new", "b")
	if n := logs.count(`state=full`); n != 1 {
		t.Fatalf("%d 'full' transitions logged, want 1:\n%s", n, logs.b.String())
	}
	if n := logs.count(`state=accepting`); n != 1 {
		t.Fatalf("%d 'accepting' transitions logged, want 1", n)
	}
}

func TestAdmissionFullBySessionsStillJoins(t *testing.T) {
	m, _ := startManager(t, Config{Limits: Limits{MaxSessions: 2, MaxParticipants: 5, MaxSessionParticipants: 8}}, 1)
	ctx := context.Background()
	admit(t, m, "s1", "a")
	admit(t, m, "s2", "a")
	if st := m.Status(); st.Accepting || st.State != StateFull {
		t.Fatalf("full by sessions: %+v", st)
	}
	if _, err := m.Admit(ctx, "s3", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("third session: %v", err)
	}
	// Joining an existing session is still allowed while full by session count.
	admit(t, m, "s1", "b")
	admit(t, m, "s2", "b")
	admit(t, m, "s1", "c")
	// Full by participants (5): joins are refused too.
	if _, err := m.Admit(ctx, "s1", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("join when full by participants: %v", err)
	}
	if err := m.RemoveParticipant(ctx, "s1", "c"); err != nil {
		t.Fatal(err)
	}
	admit(t, m, "s1", "d")
	if err := m.DeleteSession(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); !st.Accepting {
		t.Fatalf("room again: %+v", st)
	}
}

func TestConfigRejectsBadCPUMarks(t *testing.T) {
	for _, c := range []Config{{CPUHigh: 50, CPULow: 60}, {CPUHigh: 70, CPULow: 70}, {CPULow: -1}} {
		if _, err := New(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestDrainStates(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	ctx := context.Background()
	admit(t, m, "s", "a")
	admit(t, m, "s", "b")
	if _, err := m.StartDrain("SIGTERM", DrainRequest{Grace: Duration(time.Hour), Deadline: Duration(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.State != StateDraining || st.Accepting || st.Reason != "SIGTERM" || st.Drain.Phase != DrainGrace {
		t.Fatalf("draining: %+v", st)
	}
	if _, err := m.Admit(ctx, "s", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("join while draining: %v", err)
	}
	if err := m.ResumeAccepting(); !errors.Is(err, ErrDrainConflict) {
		t.Fatalf("resume during a drain: %v", err)
	}
	if _, err := m.StartDrain("again", DrainRequest{}); !errors.Is(err, ErrDrainConflict) {
		t.Fatalf("second drain: %v", err)
	}
	m.RemoveParticipant(ctx, "s", "a")
	if st := m.Status(); st.State != StateDraining || st.Drain.ParticipantsLeft != 1 {
		t.Fatalf("one left: %+v", st)
	}
	m.RemoveParticipant(ctx, "s", "b")
	select {
	case <-m.Drained():
	case <-time.After(5 * time.Second):
		t.Fatal("not drained")
	}
	if st := m.Status(); st.State != StateDrained || st.Participants != 0 || st.Drain.Phase != DrainDrained {
		t.Fatalf("empty: %+v", st)
	}
}
