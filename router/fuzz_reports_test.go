package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// FuzzReportBody posts arbitrary bodies to POST /v1/pods/{pod}/report on a
// real HTTP server. Properties: no panic (the middleware would answer a
// 500); the answer is 204 or a 4xx with the JSON error, never a 5xx.
//
//	go test ./router -run '^$' -fuzz '^FuzzReportBody$' -fuzztime 60s -parallel 1
func FuzzReportBody(f *testing.F) {
	r, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewServer(ServerConfig{Token: "api", ReportToken: "rep"}, r)
	if err != nil {
		f.Fatal(err)
	}
	ts := newLoopbackServer(f, s.Handler())
	f.Fuzz(func(t *testing.T, pod string, body []byte) {
		if len(body) > 1<<16 || !api.ValidID(pod) {
			return
		}
		req, err := http.NewRequest("POST", ts+"/v1/pods/"+pod+"/report", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer rep")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNoContent:
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			var e api.ErrorResponse
			if err := json.Unmarshal(b, &e); err != nil || e.Code == "" || e.Error == "" {
				t.Fatalf("%d with %q", resp.StatusCode, b)
			}
		default:
			t.Fatalf("report %q: %d %s", body, resp.StatusCode, b)
		}
	})
}

// FuzzReportMerging applies programs of pod reports (three pods, restarts,
// sessions moving between them, reported by two pods at once, draining
// pods) to a Router with its memory store. Every report is a new one (its
// seq above the pod's last, a restart with a new instance). Properties
// after every report: a session is mapped only to a pod whose latest
// report lists it (none lists it: not mapped); one the reporting pod lists
// is mapped (to it, or to another pod listing it too: a split); one that
// only other pods list may be unmapped (the reporting pod ended its side
// of a split: their next reports map it again); the router's status
// answers.
//
//	go test ./router -run '^$' -fuzz '^FuzzReportMerging$' -fuzztime 60s -parallel 1
func FuzzReportMerging(f *testing.F) {
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 4096 {
			return
		}
		r, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		const pods, sessions = 3, 8
		var (
			seq      [pods]uint64
			instance [pods]int
			latest   [pods][]api.PodSession
			restarts int
		)
		for p := range pods {
			instance[p] = p
		}
		next := func() byte {
			if len(prog) == 0 {
				return 0
			}
			b := prog[0]
			prog = prog[1:]
			return b
		}
		for step := 0; len(prog) > 0 && step < 200; step++ {
			op := next()
			p := int(op) % pods
			if op&0x80 != 0 {
				restarts++
				instance[p] = pods + restarts
				seq[p] = 0
			}
			seq[p] += 1 + uint64(op>>4&3)
			mask := next()
			var list []api.PodSession
			total := 0
			for s := range sessions {
				if mask&(1<<s) != 0 {
					n := int(next() % 6)
					list = append(list, api.PodSession{ID: fmt.Sprint("s", s), Participants: n})
					total += n
				}
			}
			state, accepting := api.State("accepting"), true
			if op&0x08 != 0 {
				state, accepting = api.State("draining"), false
			}
			rep := api.PodReport{
				Name: fmt.Sprint("p", p), Instance: fmt.Sprint("i", instance[p]), Seq: seq[p],
				AdminURL: fmt.Sprintf("http://127.0.0.1:%d", 1+p),
				Limits:   api.Limits{MaxSessions: 10, MaxParticipants: 100, MaxSessionParticipants: 10},
				Sessions: list, Participants: total, Accepting: accepting, State: state,
			}
			if err := r.Report(ctx, rep); err != nil {
				t.Fatalf("step %d: report %+v: %v", step, rep, err)
			}
			latest[p] = list
			for s := range sessions {
				id := fmt.Sprint("s", s)
				var on []string
				for q := range pods {
					if slices.ContainsFunc(latest[q], func(ps api.PodSession) bool { return ps.ID == id }) {
						on = append(on, fmt.Sprint("p", q))
					}
				}
				pod, ok, err := r.store.Lookup(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case ok && !slices.Contains(on, pod):
					t.Fatalf("step %d: %s is listed by %v, mapped to %s", step, id, on, pod)
				case !ok && slices.Contains(on, rep.Name):
					t.Fatalf("step %d: %s is listed by %v, the reporting %s among them, and not mapped", step, id, on, rep.Name)
				}
				// (Listed by other pods only and not mapped: the reporting
				// pod ended its side of a split; the others' next reports
				// map it again.)
			}
			if _, err := r.Status(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func newLoopbackServer(f *testing.F, h http.Handler) string {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	f.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func reportFuzzSeeds() (bodies []struct {
	pod  string
	body string
}, progs [][]byte) {
	rep := `{"name":"p1","instance":"i","seq":1,"admin_url":"http://127.0.0.1:1","limits":{"max_sessions":1,"max_participants":1,"max_session_participants":2},"accepting":true,"state":"accepting","sessions":[{"id":"s1","participants":2}]}`
	bodies = []struct {
		pod  string
		body string
	}{
		{"p1", rep},
		{"p1", `{"name":"p1","instance":"i","seq":0}`},
		{"p1", `{"name":"p1","instance":"i","seq":18446744073709551615,"admin_url":"http://[::1]:1","sessions":[{"id":"","participants":-1}]}`},
		{"p2", rep},
		{"p1", `{"name":"p1","admin_url":"%zz"}`},
	}
	progs = [][]byte{
		{0, 0x03, 1, 2, 1, 0x01, 3},                   // p0 has s0, s1; p1 has s0 too (with more)
		{0, 0x01, 1, 1, 0x01, 4, 0, 0x00},             // s0 on p0 and p1, then p0 drops it
		{0x08, 0x01, 5, 1, 0x01, 1},                   // a draining pod and an accepting one
		{0, 0xff, 1, 1, 1, 1, 1, 1, 1, 1, 0x80, 0x00}, // p0 restarts empty
		{0x30, 0x02, 1, 0x31, 0x02, 3, 2, 0x02, 3},
	}
	return bodies, progs
}

func TestWriteReportFuzzCorpus(t *testing.T) {
	if os.Getenv("VOX_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set VOX_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzReport*")
	}
	bodies, progs := reportFuzzSeeds()
	write := func(name string, i int, content []byte) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range bodies {
		write("FuzzReportBody", i, fmt.Appendf(nil, "go test fuzz v1\nstring(%q)\n[]byte(%q)\n", b.pod, b.body))
	}
	for i, p := range progs {
		write("FuzzReportMerging", i, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", p))
	}
}

// A pod that restarted (a new instance under its name) no longer has the
// sessions of its previous instance: the router forgets those it does not
// list (defect found by FuzzReportMerging: they stayed mapped to the pod
// for ever).
func TestRestartedPodForgetsItsSessions(t *testing.T) {
	r, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	report := func(instance string, seq uint64, ids ...string) {
		t.Helper()
		rep := api.PodReport{Name: "p1", Instance: instance, Seq: seq, AdminURL: "http://127.0.0.1:1",
			Limits: api.Limits{MaxSessions: 10, MaxParticipants: 100, MaxSessionParticipants: 10}, Accepting: true, State: "accepting"}
		for _, id := range ids {
			rep.Sessions = append(rep.Sessions, api.PodSession{ID: id, Participants: 1})
		}
		if err := r.Report(ctx, rep); err != nil {
			t.Fatal(err)
		}
	}
	report("a", 5, "s1", "s2")
	report("b", 1, "s2") // restarted: s1 is gone, s2 is there again
	if pod, ok, _ := r.store.Lookup(ctx, "s1"); ok {
		t.Errorf("s1 of the previous instance still mapped to %s", pod)
	}
	if pod, ok, _ := r.store.Lookup(ctx, "s2"); !ok || pod != "p1" {
		t.Errorf("s2: %q %v", pod, ok)
	}
}
