package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/testvoxd"
	"github.com/voxfleet/vox/sessionmgr"
)

// realVoxd runs the real server parts voxd wires together (UDP core,
// session manager, admin API) on loopback.
func realVoxd(t *testing.T) (adminAddr string, m *sessionmgr.Manager) {
	t.Helper()
	return testvoxd.Start(t, "bench-token")
}

type runResult struct {
	code           int
	stdout, stderr string
}

func runBench(t *testing.T, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, func(string) (string, bool) { return "", false }, &out, &errb)
	return runResult{code, out.String(), errb.String()}
}

func steadyArgs(addr string, extra ...string) []string {
	return append([]string{"steady", "--admin", addr, "--token", "bench-token", "--sessions", "2", "--size", "4", "--talkers", "2",
		"--warmup", "300ms", "--duration", "1500ms", "--linger", "300ms", "--json"}, extra...)
}

func decode(t *testing.T, r runResult) *Result {
	t.Helper()
	var res Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json output: %v\nstdout %q\nstderr %q", err, r.stdout, r.stderr)
	}
	return &res
}

func TestSteadyAgainstRealServer(t *testing.T) {
	addr, m := realVoxd(t)
	// The server runs in this process: --server-pid is ours.
	r := runBench(t, steadyArgs(addr, "--max-loss", "0", "--max-p99", "2s", "--server-pid", strconv.Itoa(os.Getpid()))...)
	res := decode(t, r)
	if r.code != exitOK || !res.Objectives.Met {
		t.Fatalf("exit %d, objectives %+v, stderr %q", r.code, res.Objectives, r.stderr)
	}
	// 4 talkers for 1.5 s at 50 pps: about 75 packets each (fewer if the
	// machine stalls a talker past the window's end).
	if res.Sent < 4*60 || res.Sent > 4*76 {
		t.Fatalf("sent %d", res.Sent)
	}
	// Each talker is heard by 3 others: 3 copies per packet sent.
	if res.Expected != 3*res.Sent || res.Delivered != res.Expected || res.LossPct != 0 || res.StreamsDead != 0 || res.ListenersShort != 0 {
		t.Fatalf("sent %d expected %d delivered %d loss %v dead %d short %d", res.Sent, res.Expected, res.Delivered, res.LossPct, res.StreamsDead, res.ListenersShort)
	}
	if res.Duplicates != 0 || res.Misrouted != 0 || len(res.Listeners) != 8 {
		t.Fatalf("dups %d misrouted %d listeners %d", res.Duplicates, res.Misrouted, len(res.Listeners))
	}
	for _, l := range res.Listeners {
		// p0, p1 talk and hear one other talker; p2, p3 hear both.
		per := res.Sent / 4
		want := 2 * per
		if strings.HasSuffix(l.ID, "/p0") || strings.HasSuffix(l.ID, "/p1") {
			want = per
		}
		if l.Delivered < want-30 || l.Delivered != l.Expected {
			t.Errorf("listener %+v, want about %d", l, want)
		}
	}
	if res.Latency.Samples != res.Delivered || res.Latency.P50US <= 0 || res.Latency.P99US < res.Latency.P50US || res.Latency.MaxUS < res.Latency.P999US {
		t.Fatalf("latency %+v", res.Latency)
	}
	if !res.Server.Measured || res.Server.ForwardedPPS < 100 || res.Server.RxPPS < 100 {
		t.Fatalf("server %+v", res.Server)
	}
	if runtime.GOOS == "linux" && (!res.Server.ProcessMeasured || res.Server.CPUPerForwardedUS <= 0 || res.Server.CPUPerParticipantSecMS <= 0) {
		t.Fatalf("server process %+v", res.Server)
	}
	if res.Generator.NumCPU < 1 || res.Generator.CPUCores <= 0 {
		t.Fatalf("generator %+v", res.Generator)
	}
	// The run cleaned up after itself.
	waitFor(t, func() bool { st := m.Status(); return st.Participants == 0 && st.Sessions == 0 })

	// The table form.
	r = runBench(t, "steady", "--admin", addr, "--token", "bench-token", "--sessions", "1", "--size", "2", "--warmup", "0s", "--duration", "300ms", "--linger", "100ms")
	if r.code != exitOK || !strings.Contains(r.stdout, "delivered / expected") || !strings.Contains(r.stdout, "worst listeners") || r.stderr != "" {
		t.Fatalf("table: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// A talker muted on the server: its listeners hear nothing from it, which
// the bench must report as loss and dead streams, and fail on --max-loss.
func TestSteadyReportsServerDrops(t *testing.T) {
	addr, _ := realVoxd(t)
	testAfterJoin = func(ctx context.Context, api *client.API, sessionIDs []string) error {
		_, err := api.SetMuted(ctx, sessionIDs[0], "p0", true)
		return err
	}
	t.Cleanup(func() { testAfterJoin = nil })
	r := runBench(t, steadyArgs(addr, "--max-loss", "0.1")...)
	res := decode(t, r)
	if r.code != exitMissed || res.Objectives.Met || !strings.Contains(r.stderr, "objective missed: loss") {
		t.Fatalf("exit %d objectives %+v stderr %q", r.code, res.Objectives, r.stderr)
	}
	// s0/p0's packets reach none of its 3 listeners: 3 dead streams, and
	// 3 copies lost of every packet s0/p0 sent in the window. That is about
	// a quarter of all copies, but not exactly: a talker's send counts in
	// the window by the time it left, so a send the machine delays across
	// an edge of the window makes one talker send a packet more or less
	// than another. How many each talker sent is known exactly: p1 hears
	// only p0, and p0 only p1.
	talkerSent := map[string]uint64{} // by session and talker, "s0/p0"
	for _, l := range res.Listeners {
		for _, s := range []string{"s0", "s1"} {
			if strings.Contains(l.ID, "-"+s+"/") {
				switch {
				case strings.HasSuffix(l.ID, "/p1"):
					talkerSent[s+"/p0"] = l.Expected
				case strings.HasSuffix(l.ID, "/p0"):
					talkerSent[s+"/p1"] = l.Expected
				}
			}
		}
	}
	muted := talkerSent["s0/p0"]
	t.Logf("sent in the window by talker: %v", talkerSent)
	if len(talkerSent) != 4 || talkerSent["s0/p1"]+talkerSent["s1/p0"]+talkerSent["s1/p1"]+muted != res.Sent || muted < 60 {
		t.Fatalf("sent %d in all, by talker %v", res.Sent, talkerSent)
	}
	if res.StreamsDead != 3 || res.ListenersShort != 3 || res.Expected != 3*res.Sent || res.Lost != 3*muted ||
		math.Abs(res.LossPct-100*float64(muted)/float64(res.Sent)) > 1e-9 || res.LossPct < 20 || res.LossPct > 30 {
		t.Fatalf("dead %d short %d lost %d of %d (%.2f %%), s0/p0 sent %d of %d", res.StreamsDead, res.ListenersShort, res.Lost, res.Expected, res.LossPct, muted, res.Sent)
	}
	if res.Server.Withheld == 0 {
		t.Fatalf("server withheld nothing: %+v", res.Server)
	}
	for _, l := range res.Listeners {
		if strings.Contains(l.ID, "-s0/") && !strings.HasSuffix(l.ID, "/p0") && (l.DeadFrom != 1 || l.LossPct == 0) {
			t.Errorf("listener %+v should have lost s0/p0", l)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "Commands"},
		{[]string{"nope"}, exitUsage, "unknown command"},
		{[]string{"steady", "--size", "1"}, exitUsage, "--size"},
		{[]string{"steady", "--talkers", "5", "--size", "4"}, exitUsage, "--talkers"},
		{[]string{"steady", "--payload", "10"}, exitUsage, "--payload"},
		{[]string{"steady", "extra"}, exitUsage, "unexpected"},
		{[]string{"steady", "--mix", "--transport", "socket"}, exitUsage, "--mix needs --transport gso"},
		{[]string{"blast", "--mix"}, exitUsage, "--mix sends at the frame rate"},
		{[]string{"steady", "--admin", "127.0.0.1:1", "--duration", "1s"}, exitSetup, "127.0.0.1:1"},
	} {
		r := runBench(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: exit %d stderr %q", c.args, r.code, r.stderr)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBlast(t *testing.T) {
	addr, _ := realVoxd(t)
	r := runBench(t, "blast", "--admin", addr, "--token", "bench-token", "--size", "3", "--warmup", "100ms", "--duration", "500ms", "--linger", "200ms", "--sample", "100ms", "--json")
	res := decode(t, r)
	if r.code != exitOK {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	// Flat out: far more than the 25 packets 500 ms of pacing would send.
	if res.Sent < 200 || res.Delivered == 0 || res.Expected != 2*res.Sent || res.StreamsDead != 0 {
		t.Fatalf("sent %d expected %d delivered %d dead %d", res.Sent, res.Expected, res.Delivered, res.StreamsDead)
	}
	if res.Server.PeakRxPPS <= 0 || res.Server.PeakForwardedPPS <= 0 || res.Server.PeakRxPPS < res.Server.RxPPS/2 {
		t.Fatalf("server %+v", res.Server)
	}
}

func TestRamp(t *testing.T) {
	addr, _ := realVoxd(t)
	args := []string{"ramp", "--admin", addr, "--token", "bench-token", "--sessions", "1", "--step", "1", "--steps", "2", "--size", "2",
		"--warmup", "0s", "--duration", "400ms", "--linger", "200ms", "--max-p99", "1s", "--json"}
	r := runBench(t, args...)
	var out RampResult
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != exitOK {
		t.Fatalf("exit %d %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if len(out.Steps) != 2 || out.HighestHeld == nil || out.HighestHeld.Sessions != 2 || out.HighestHeld.Participants != 4 || out.Steps[0].Sessions != 1 {
		t.Fatalf("%+v", out)
	}
	// The first step loses a whole stream: nothing held, exit 1.
	testAfterJoin = func(ctx context.Context, api *client.API, sessionIDs []string) error {
		_, err := api.SetMuted(ctx, sessionIDs[0], "p0", true)
		return err
	}
	t.Cleanup(func() { testAfterJoin = nil })
	r = runBench(t, args[:len(args)-1]...)
	if r.code != exitMissed || !strings.Contains(r.stdout, "no step held") || strings.Count(r.stdout, "\n") != 4 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestParsePIDStat(t *testing.T) {
	line := "4242 (vox d) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0\n"
	d, err := parsePIDStat(line)
	if err != nil || d != 3250*time.Millisecond {
		t.Fatalf("%v %v", d, err)
	}
	if _, err := parsePIDStat("4242 (voxd) S 1"); err == nil {
		t.Fatal("short line accepted")
	}
	if _, err := parsePIDStat("garbage"); err == nil {
		t.Fatal("garbage accepted")
	}
}
