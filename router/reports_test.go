package router

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

func rep(seq uint64, instance string, sessions ...api.PodSession) api.PodReport {
	return api.PodReport{Name: "p1", Instance: instance, Seq: seq, AdminURL: "http://127.0.0.1:1",
		Limits: api.Limits{MaxSessions: 10, MaxParticipants: 10}, Accepting: true, State: api.StateAccepting,
		Sessions: sessions}
}

// TestReportSeq: old reports are ignored; a slot stays counted until a
// report built after the pod's answer arrives (seq rule); a restarted pod
// (new instance) loses its slots; a session that leaves a report is
// forgotten.
func TestReportSeq(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	r, err := New(Config{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Report(ctx, rep(5, "i1")))
	slot, err := r.store.Reserve(ctx, "s", r.reg.candidates(now, ""))
	must(err)
	_, _, _ = r.store.PlaceIfAbsent(ctx, "s", "p1")
	r.stamp(ctx, slot) // answered while the latest report was seq 5
	pending := func() int { p, _ := r.store.Pending(ctx, "p1"); return len(p) }

	must(r.Report(ctx, rep(4, "i1"))) // old: ignored
	if r.reg.seq("p1") != 5 {
		t.Fatal("an old report was taken")
	}
	must(r.Report(ctx, rep(6, "i1"))) // may have been built before the answer
	if pending() != 1 {
		t.Fatal("settled by a report that may predate the admission")
	}
	must(r.Report(ctx, rep(7, "i1", api.PodSession{ID: "s", Participants: 1}))) // built after seq 6 was received
	if pending() != 0 {
		t.Fatal("not settled by a report built after the answer")
	}
	if pod, ok, _ := r.store.Lookup(ctx, "s"); !ok || pod != "p1" {
		t.Fatal("session lost")
	}
	must(r.Report(ctx, rep(8, "i1"))) // the session ended on the pod
	if _, ok, _ := r.store.Lookup(ctx, "s"); ok {
		t.Fatal("an ended session is still mapped")
	}
	_, _ = r.store.Join(ctx, "x", "p1")
	must(r.Report(ctx, rep(1, "i2"))) // restarted: seq starts again
	if r.reg.seq("p1") != 1 || pending() != 0 {
		t.Fatalf("restart: seq %d, pending %d", r.reg.seq("p1"), pending())
	}
}
