//go:build !opus

package sessionmgr

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Without libopus a mix session cannot be made, by PUT or by an admit's
// session options, and the error says how to get one.
func TestMixNeedsOpus(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	ctx := context.Background()
	_, _, err := m.PutSession(ctx, "s", SessionOptions{Mix: true})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "-tags opus") {
		t.Fatalf("PUT mix: %v", err)
	}
	_, err = m.Admit(ctx, "s", AdmitRequest{Session: &SessionOptions{Mix: true}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "-tags opus") {
		t.Fatalf("admit mix: %v", err)
	}
	if st := m.Status(); st.Sessions != 0 || st.Participants != 0 {
		t.Fatalf("a failed mix request left %d sessions, %d participants", st.Sessions, st.Participants)
	}
}

// Without libopus a listener's own mix is refused the same way, at
// admission and by SetMix.
func TestListenerMixNeedsOpus(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	ctx := context.Background()
	if _, err := m.Admit(ctx, "s", AdmitRequest{ParticipantID: "a", Mix: true}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "-tags opus") {
		t.Fatalf("admit mix: %v", err)
	}
	if _, err := m.Admit(ctx, "s", AdmitRequest{ParticipantID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := m.SetMix(ctx, "s", "a", true); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "-tags opus") {
		t.Fatalf("SetMix: %v", err)
	}
	if err := m.SetMix(ctx, "s", "a", false); err != nil {
		t.Fatalf("SetMix off: %v", err)
	}
}
