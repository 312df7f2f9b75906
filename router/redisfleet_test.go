package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/podreport"
	"github.com/voxfleet/vox/router/redistest"
)

// Two router replicas sharing one Redis, in process, in front of stub
// pods that keep their sessions in memory and report every 100 ms to one
// replica only (as pods behind a Service may). The stubs enforce their
// session limit and count every new session the router sends them beyond
// it: the router must never do that.

// stubPod is a pod's admission API and report source, in memory.
type stubPod struct {
	name    string
	maxS    int
	srv     *httptest.Server
	mu      sync.Mutex                 // guards the fields below
	members map[string]map[string]bool // session → participants
	parts   int
	refused int // new sessions sent beyond maxS
	most    int // the most sessions ever held
}

func newStubPod(t *testing.T, name string, maxS int) *stubPod {
	p := &stubPod{name: name, maxS: maxS, members: map[string]map[string]bool{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.admit))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *stubPod) admit(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // v1 sessions ID participants
	var req api.AdmitRequest
	if r.Method != http.MethodPost || len(parts) != 4 || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	session := parts[2]
	p.mu.Lock()
	m := p.members[session]
	if m == nil {
		if len(p.members) >= p.maxS {
			p.refused++
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: "full", Code: api.CodeNotAccepting})
			return
		}
		m = map[string]bool{}
		p.members[session] = m
		p.most = max(p.most, len(p.members))
	}
	m[req.ParticipantID] = true
	p.parts++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(api.Admission{SessionID: session, ParticipantID: req.ParticipantID, SSRC: 1,
		SRTP: api.SRTPKeys{Profile: api.DefaultProfile}})
}

func (p *stubPod) report() api.PodReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	rep := api.PodReport{Limits: api.Limits{MaxSessions: p.maxS, MaxParticipants: 1 << 20, MaxSessionParticipants: 100},
		Participants: p.parts, Accepting: true, State: api.StateAccepting}
	for id, m := range p.members {
		rep.Sessions = append(rep.Sessions, api.PodSession{ID: id, Participants: len(m)})
	}
	return rep
}

type replica struct {
	store  *RedisStore
	router *Router
	srv    *Server
	api    *client.API
}

type redisFleet struct {
	t        *testing.T
	redis    *redistest.Server
	replicas []*replica
	pods     []*stubPod
}

// newRedisFleet starts Redis, two replicas and n stub pods of maxS
// sessions reporting to replica 0, and waits until both replicas can
// place.
func newRedisFleet(t *testing.T, n, maxS int) *redisFleet {
	f := &redisFleet{t: t, redis: redistest.Start(t)}
	prefix := fmt.Sprintf("{fleet%d}:", prefixes.Add(1))
	for range 2 {
		st := newTestRedisStore(t, f.redis, RedisConfig{Prefix: prefix, ShareReports: true, RebuildWait: 2 * time.Second})
		r, err := New(Config{Store: st, Reports: st, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0"}, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
		c, _ := client.NewAPI("http://"+srv.Addr(), "")
		f.replicas = append(f.replicas, &replica{store: st, router: r, srv: srv, api: c})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := range n {
		p := newStubPod(t, fmt.Sprintf("pod-%02d", i), maxS)
		rep, err := podreport.New(podreport.Config{RouterURL: "http://" + f.replicas[0].srv.Addr(), Name: p.name,
			AdminURL: p.srv.URL, Source: p.report, Interval: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { rep.Run(ctx) })
		f.pods = append(f.pods, p)
	}
	f.waitPlaceable()
	return f
}

// waitPlaceable waits until both replicas see every pod placeable and
// neither store waits for a rebuild.
func (f *redisFleet) waitPlaceable() {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range f.replicas {
		for {
			st, err := r.router.Status(context.Background())
			if err == nil && st.PodsPlaceable == len(f.pods) && !r.store.rebuilding() {
				break
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("replicas not ready: %+v %v", st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// admitAll admits 5 members to each of sessions (ids prefix+n) through
// random replicas, shuffled, from 32 goroutines. An admission refused
// with store_unavailable or not_accepting is retried (retry true) until
// it succeeds; it returns how many were retried.
func (f *redisFleet) admitAll(prefix string, sessions int, retry bool, during func(done int64)) int64 {
	type adm struct{ session, pid string }
	var all []adm
	for s := range sessions {
		for m := range 5 {
			all = append(all, adm{fmt.Sprint(prefix, s), fmt.Sprint("m", m)})
		}
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var next, done, retried atomic.Int64
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				i := next.Add(1) - 1
				if i >= int64(len(all)) {
					return
				}
				a := all[i]
				deadline := time.Now().Add(20 * time.Second)
				for {
					r := f.replicas[rng.IntN(len(f.replicas))]
					_, err := r.api.AdmitRouted(context.Background(), a.session, api.AdmitRequest{ParticipantID: a.pid}, "")
					if err == nil {
						break
					}
					if !retry || !(errors.Is(err, api.ErrStoreUnavailable) || errors.Is(err, api.ErrNotAccepting)) || time.Now().After(deadline) {
						f.t.Errorf("admission %s/%s lost: %v", a.session, a.pid, err)
						break
					}
					retried.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
				if d := done.Add(1); during != nil && w == 0 {
					during(d)
				}
			}
		})
	}
	wg.Wait()
	return retried.Load()
}

// check: every session of prefix on one pod with its 5 members, no pod
// ever over its limit, no new session sent to a full pod; each replica
// says where each session is (after the reports rebuilt the map, when
// the store was emptied).
func (f *redisFleet) check(prefix string, sessions int) {
	f.t.Helper()
	where := map[string]string{}
	for _, p := range f.pods {
		p.mu.Lock()
		if p.refused > 0 || p.most > p.maxS {
			f.t.Errorf("%s: %d new sessions sent beyond its limit; held %d of %d at most", p.name, p.refused, p.most, p.maxS)
		}
		for id, m := range p.members {
			if !strings.HasPrefix(id, prefix) {
				continue
			}
			if other, ok := where[id]; ok {
				f.t.Errorf("%s split: on %s and %s", id, other, p.name)
			}
			where[id] = p.name
			if len(m) != 5 {
				f.t.Errorf("%s on %s: %d members", id, p.name, len(m))
			}
		}
		p.mu.Unlock()
	}
	if len(where) != sessions {
		f.t.Errorf("%d sessions on the pods, want %d", len(where), sessions)
	}
	deadline := time.Now().Add(10 * time.Second)
	for id, pod := range where {
		for _, r := range f.replicas {
			for {
				s, err := r.router.Session(context.Background(), id)
				if err == nil && s.Pod == pod {
					break
				}
				if time.Now().After(deadline) {
					f.t.Fatalf("%s: the router says %+v %v, the pods %s", id, s, err, pod)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// TestRedisTwoReplicas: 10,000 admissions into 2,000 sessions (5 each)
// sent to two replicas at random, concurrently, on 8 pods of 300
// sessions; with the race detector 4,000 into 800 on pods of 120, with
// -short 2,000 into 400 on pods of 60 (to stay within ~20 s on 2 cores):
// every session on one pod, no pod over capacity, no admission lost or
// retried.
func TestRedisTwoReplicas(t *testing.T) {
	sessions, maxS := 2000, 300
	switch {
	case testing.Short():
		sessions, maxS = 400, 60
	case raceEnabled:
		sessions, maxS = 800, 120
	}
	f := newRedisFleet(t, 8, maxS)
	start := time.Now()
	if n := f.admitAll("s", sessions, false, nil); n != 0 {
		t.Fatalf("%d retried", n)
	}
	el := time.Since(start)
	t.Logf("%d admissions into %d sessions through 2 replicas in %v (%.0f/s)", 5*sessions, sessions, el,
		float64(5*sessions)/el.Seconds())
	f.check("s", sessions)
	for i, r := range f.replicas {
		st, _ := r.router.Status(context.Background())
		if st.Retries != 0 || st.AdmissionsFailed != 0 {
			t.Errorf("replica %d: %+v", i, st)
		}
	}
}

// TestRedisRestart: Redis killed and started again (empty) on the same
// port while admissions go on: they fail (store_unavailable) or are
// answered from the local cache during the gap, and are retried; after
// it nothing is split or over-filled and both replicas have rebuilt the
// map from the pods' reports.
func TestRedisRestart(t *testing.T) {
	sessions, maxS := 600, 90 // 3,000 admissions on 8 pods
	if testing.Short() {
		sessions, maxS = 300, 45
	}
	f := newRedisFleet(t, 8, maxS)
	var once sync.Once
	gap := make(chan time.Duration, 1)
	retried := f.admitAll("r", sessions, true, func(done int64) {
		if done < int64(sessions*5/3) {
			return
		}
		once.Do(func() {
			f.redis.Kill()
			start := time.Now()
			time.Sleep(500 * time.Millisecond)
			f.redis.Restart()
			gap <- time.Since(start)
		})
	})
	t.Logf("%d admissions into %d sessions; Redis down for %v; %d attempts refused and retried", 5*sessions, sessions, <-gap, retried)
	f.check("r", sessions)
}
