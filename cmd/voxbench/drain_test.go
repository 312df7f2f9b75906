package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/testvoxd"
	"github.com/voxfleet/vox/sessionmgr"
)

const drainToken = "bench-token"

// runDrainBench runs voxbench with args, bounded.
func runDrainBench(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, func(string) (string, bool) { return "", false }, &out, &errb)
	return code, out.String(), errb.String()
}

func drainArgs(a, b string, extra ...string) []string {
	return append([]string{"drain", "--admin", a, "--admin-b", b, "--token", drainToken,
		"--sessions", "3", "--size", "4", "--talkers", "2", "--warmup", "300ms",
		"--grace", "100ms", "--rate", "100", "--window", "200ms", "--deadline", "10s", "--timeout", "8s",
		"--after", "500ms", "--linger", "200ms", "--json"}, extra...)
}

func decodeDrain(t *testing.T, stdout, stderr string) *DrainResult {
	t.Helper()
	var res DrainResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\nstdout %q\nstderr %q", err, stdout, stderr)
	}
	return &res
}

// twoPods starts pods A and B in this process. Their admin servers'
// Shutdown waits up to 5 s for a connection that never carried a request,
// which the API client's pool may hold: closing the pool's idle
// connections first keeps the test short.
func twoPods(t *testing.T) (addrA string, mA *sessionmgr.Manager, addrB string, mB *sessionmgr.Manager) {
	addrA, mA = testvoxd.Start(t, drainToken)
	addrB, mB = testvoxd.Start(t, drainToken)
	t.Cleanup(client.DefaultHTTPClient.CloseIdleConnections)
	return addrA, mA, addrB, mB
}

// waitDrainCond polls cond for at most 5 s.
func waitDrainCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two pods in this process: A is loaded and drained, every client follows
// its notice to B, and talks there.
func TestDrainMovesEveryoneToB(t *testing.T) {
	addrA, mA, addrB, mB := twoPods(t)
	start := time.Now()
	code, stdout, stderr := runDrainBench(t, drainArgs(addrA, addrB, "--max-empty", "5s")...)
	res := decodeDrain(t, stdout, stderr)
	t.Logf("drain run %v: notices %v..%v ms, peak %d/100ms (bound %d), %d/1s, A empty %v ms, all moved %v ms, after %+v",
		time.Since(start).Round(time.Millisecond), *res.FirstNoticeMS, *res.LastNoticeMS, res.PeakNotices100ms, res.Bound100ms,
		res.PeakNotices1s, *res.AEmptyMS, *res.AllMovedMS, res.After)
	if code != exitOK || !res.Objectives.Met || res.Lost != 0 || len(res.LostList) != 0 {
		t.Fatalf("exit %d objectives %+v lost %d %v\nstderr %q", code, res.Objectives, res.Lost, res.LostList, stderr)
	}
	const n = 12
	if res.Participants != n || res.NoticesFirst != n || res.Moved != n || res.MoveFailed != 0 || res.NoNotice != 0 || res.Unsettled != 0 {
		t.Fatalf("participants %d notified %d moved %d failed %d no notice %d unsettled %d",
			res.Participants, res.NoticesFirst, res.Moved, res.MoveFailed, res.NoNotice, res.Unsettled)
	}
	if res.NoticeCopies < n || res.TimedOut || res.AEmptyMS == nil || res.AllMovedMS == nil || *res.AEmptyMS > 5000 {
		t.Fatalf("copies %d timed out %v empty %v all moved %v", res.NoticeCopies, res.TimedOut, res.AEmptyMS, res.AllMovedMS)
	}
	// Nobody is notified during the grace period (100 ms), and A empties
	// only once the last participant has left it.
	if *res.FirstNoticeMS < 90 || *res.LastNoticeMS < *res.FirstNoticeMS || *res.AEmptyMS < *res.LastNoticeMS {
		t.Fatalf("first notice %v ms, last %v ms, A empty %v ms", *res.FirstNoticeMS, *res.LastNoticeMS, *res.AEmptyMS)
	}
	// The server's bound is rate × 100 ms plus one session per shard
	// (2 shards × 4); client-side arrival times bunch on a loaded
	// machine, so allow one more session per shard.
	if res.AShards != 2 || res.Bound100ms != 10+8 || res.Bound1s != 100+8 {
		t.Fatalf("shards %d bounds %d %d", res.AShards, res.Bound100ms, res.Bound1s)
	}
	if res.PeakNotices100ms < 1 || res.PeakNotices100ms > res.Bound100ms+8 || res.PeakNotices1s < res.PeakNotices100ms || res.PeakNotices1s > n {
		t.Fatalf("peaks %d in 100 ms, %d in 1 s", res.PeakNotices100ms, res.PeakNotices1s)
	}
	// On B, 2 talkers per session for 500 ms: each listener hears each
	// mate (p0, p1 one other talker, p2, p3 two): 3 sessions × 6 pairs.
	a := res.After
	if !a.Measured || a.StreamsDead != 0 || a.Misrouted != 0 || a.Expected < 18*20 || a.Delivered != a.Expected || a.LossPct != 0 {
		t.Fatalf("after %+v", a)
	}
	if res.BParticipantsEnd != n || res.BParticipantsAtStart != 0 || !res.BAcceptingAtStart || res.AForeignAtStart != 0 {
		t.Fatalf("B %d at the end, %d at the start (accepting %v); A foreign %d", res.BParticipantsEnd, res.BParticipantsAtStart, res.BAcceptingAtStart, res.AForeignAtStart)
	}
	dr := res.ADrain
	if dr == nil || dr.Phase != sessionmgr.DrainDrained || dr.NoticesSent != n || dr.Reconnected != n || dr.TimedOut != 0 ||
		dr.RemovedAtDeadline != 0 || res.AParticipantsEnd != 0 {
		t.Fatalf("A's drain %+v, %d left", dr, res.AParticipantsEnd)
	}
	// Cleaned up: nobody left on either pod; A stays drained.
	waitDrainCond(t, "both pods empty", func() bool {
		a, b := mA.Status(), mB.Status()
		return a.Participants == 0 && a.Sessions == 0 && b.Participants == 0 && b.Sessions == 0
	})
	if st := mA.Status(); st.Accepting {
		t.Fatalf("A accepts again after its drain: %+v", st.State)
	}

	// The table form of this result.
	var tab bytes.Buffer
	writeDrainTable(&tab, res)
	for _, want := range []string{"12 of 12 participants;", "peak notice rate", "A empty after", "participants lost     0\n", "drained: 12 notices sent", "12 moved, 0 failed"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}

	// A pod already drained refuses the admissions: setup failure.
	code, stdout, stderr = runDrainBench(t, "drain", "--admin", addrA, "--admin-b", addrB, "--token", drainToken, "--sessions", "1", "--size", "2")
	if code != exitSetup || !strings.Contains(stderr, "on A") || stdout != "" {
		t.Fatalf("drained A: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// B refuses admissions: every move fails, the clients are lost (A still
// empties: each sent its BYE before asking for B), exit 1.
func TestDrainReportsLostParticipants(t *testing.T) {
	addrA, _, addrB, mB := twoPods(t)
	mB.StopAccepting("test: B refuses")
	code, stdout, stderr := runDrainBench(t, drainArgs(addrA, addrB, "--readmit-attempts", "1")...)
	res := decodeDrain(t, stdout, stderr)
	const n = 12
	if code != exitMissed || res.Objectives.Met || res.Lost != n || !strings.Contains(stderr, "12 of 12 participants lost") {
		t.Fatalf("exit %d objectives %+v lost %d\nstderr %q", code, res.Objectives, res.Lost, stderr)
	}
	if res.NoticesFirst != n || res.Moved != 0 || res.MoveFailed != n || len(res.MoveErrors) == 0 || !strings.Contains(res.MoveErrors[0], "not_accepting") {
		t.Fatalf("notified %d moved %d failed %d errors %q", res.NoticesFirst, res.Moved, res.MoveFailed, res.MoveErrors)
	}
	if len(res.LostList) != n || !strings.Contains(res.LostList[0].Reason, "move failed") || res.After.Measured || res.BAcceptingAtStart {
		t.Fatalf("lost %v after %+v", res.LostList, res.After)
	}
	if dr := res.ADrain; dr == nil || dr.Phase != sessionmgr.DrainDrained || dr.Reconnected != n || res.AEmptyMS == nil {
		t.Fatalf("A's drain %+v, empty after %v", dr, res.AEmptyMS)
	}
	if res.Request.GraceMS != 100 || res.Request.WindowMS != 200 || res.Request.Rate != 100 || res.Request.Exit != "auto" {
		t.Fatalf("request %+v", res.Request)
	}
	if !strings.Contains(stderr, "B does not accept") {
		t.Fatalf("no warning about B: %q", stderr)
	}
}

func TestDrainUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drain"}, exitUsage, "--admin-b"},
		{[]string{"drain", "--admin", "127.0.0.1:1"}, exitUsage, "both required"},
		{[]string{"drain", "--admin", "127.0.0.1:1", "--admin-b", "http://127.0.0.1:1"}, exitUsage, "same pod"},
		{[]string{"drain", "--admin", "127.0.0.1:1", "--admin-b", "127.0.0.1:2", "--deadline", "1s", "--grace", "2s"}, exitUsage, "--deadline"},
		{[]string{"drain", "--admin", "127.0.0.1:1", "--admin-b", "127.0.0.1:2", "--exit", "maybe"}, exitUsage, "--exit"},
		{[]string{"drain", "--admin", "127.0.0.1:1", "--admin-b", "127.0.0.1:2", "--after", "0s"}, exitUsage, "--after"},
		{[]string{"drain", "--admin", "127.0.0.1:1", "--admin-b", "127.0.0.1:2"}, exitSetup, "pod A"},
	} {
		code, _, stderr := runDrainBench(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d stderr %q", c.args, code, stderr)
		}
	}
}

func TestPeakIn(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, c := range []struct {
		ts   []time.Duration
		want int
	}{
		{nil, 0},
		{ms(5), 1},
		{ms(0, 99, 100, 150, 199, 250), 3}, // 99, 100, 150 or 100, 150, 199
		{ms(0, 10, 20, 30, 130), 4},
		{ms(0, 100, 200, 300), 1},
		{ms(0, 0, 0, 500), 3},
	} {
		if got := peakIn(c.ts, 100*time.Millisecond); got != c.want {
			t.Errorf("peakIn(%v) = %d, want %d", c.ts, got, c.want)
		}
	}
}
