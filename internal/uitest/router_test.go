package uitest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/router/simfleet"
	"github.com/voxfleet/vox/sessionmgr"
)

const (
	routerToken = "ui-test-token"
	reportToken = "ui-test-report"
	podToken    = "ui-test-pod"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startRouter runs a voxrouter (router.Server) over a local fleet of
// pods real voxd pods (router/simfleet), as voxrouter --local-fleet does;
// pods 0 means no fleet (static mode: pods that report themselves).
func startRouter(t *testing.T, pods int) string {
	t.Helper()
	// No consolidation (the test drains a pod itself); a short drain
	// deadline: the load's participants never send media, so nobody
	// answers the notices and the deadline empties the pod.
	cfg := router.Config{PodToken: podToken, Logger: quiet,
		Ops: router.OpsConfig{NoConsolidation: true, DrainDeadline: 5 * time.Second}}
	var fleet *simfleet.Fleet
	if pods > 0 {
		var err error
		fleet, err = simfleet.New(simfleet.Config{Replicas: pods, Buffer: 1, StartDelay: 300 * time.Millisecond,
			BatchWait: 50 * time.Millisecond, ReportToken: reportToken, AdminToken: podToken, Pool: "local",
			Limits: sessionmgr.Limits{MaxSessions: 6, MaxParticipants: 48}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fleet.Close)
		cfg.Allocator, cfg.Pool = fleet.Allocator(), "local"
	}
	r, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.ServerConfig{Addr: "127.0.0.1:0", Token: routerToken, ReportToken: reportToken, Logger: quiet}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	base := "http://" + srv.Addr()
	if fleet != nil {
		if err := fleet.Run(base); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// load admits participants through the router, three to a session, at
// about 25 per second, at most max of them, until stop is called.
type load struct {
	ok, failed atomic.Int64
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func startLoad(base string, max int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		c := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < max; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			body := fmt.Sprintf(`{"participant_id":"p%d"}`, i)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
				fmt.Sprintf("%s/v1/sessions/s%03d/participants", base, i/3), strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+routerToken)
			req.Header.Set("Content-Type", "application/json")
			res, err := c.Do(req)
			if err != nil {
				l.failed.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusCreated {
				l.ok.Add(1)
			} else {
				l.failed.Add(1)
			}
		}
	}()
	return l
}

func (l *load) stop() { l.cancel(); l.wg.Wait() }

// TestRouterPage: the fleet page under load shows what /v1/status
// reports, lists the pods /v1/pods does, and (once the router has its
// fleet operations) sets a pool's weight and drains a pod from the page.
func TestRouterPage(t *testing.T) {
	chrome := needChrome(t)
	base := startRouter(t, 3)
	ld := startLoad(base, 400)
	t.Cleanup(ld.stop)
	ctx := browser(t, chrome, 3*time.Minute)
	openPage(t, ctx, base, routerToken)

	// Live: the admissions count and rate move on screen under load.
	waitFor(t, 15*time.Second, "admissions per second above 0 on the page", func() bool {
		v, ok := number(text(t, ctx, "#st-admissions-per-second"))
		return ok && v > 0
	})
	a0, _ := number(text(t, ctx, "#st-admissions"))
	waitFor(t, 10*time.Second, "the admissions count to grow on the page", func() bool {
		v, _ := number(text(t, ctx, "#st-admissions"))
		return v > a0
	})
	if ld.ok.Load() == 0 {
		t.Fatalf("no admission succeeded (%d failed)", ld.failed.Load())
	}
	ld.stop()

	// The page's figures are /v1/status's: each field is read on the page
	// between two equal answers of /v1/status (the fields one at a time:
	// the participants change as the load's silent ones time out).
	fields := []struct {
		id  string
		get func(*api.RouterStatus) float64
	}{
		{"#st-pods", func(s *api.RouterStatus) float64 { return float64(s.Pods) }},
		{"#st-pods-placeable", func(s *api.RouterStatus) float64 { return float64(s.PodsPlaceable) }},
		{"#st-pods-stale", func(s *api.RouterStatus) float64 { return float64(s.PodsStale) }},
		{"#st-sessions", func(s *api.RouterStatus) float64 { return float64(s.Sessions) }},
		{"#st-participants", func(s *api.RouterStatus) float64 { return float64(s.Participants) }},
		{"#st-admissions", func(s *api.RouterStatus) float64 { return float64(s.Admissions) }},
		{"#st-admissions-failed", func(s *api.RouterStatus) float64 { return float64(s.AdmissionsFailed) }},
		{"#st-no-pod", func(s *api.RouterStatus) float64 { return float64(s.NoPod) }},
		{"#st-retries", func(s *api.RouterStatus) float64 { return float64(s.Retries) }},
		{"#st-moves", func(s *api.RouterStatus) float64 { return float64(s.Moves) }},
	}
	matched := map[string]string{}
	last := map[string]string{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("matched: %v; last differences: %v", matched, last)
		}
	})
	waitFor(t, 45*time.Second, "the page to show /v1/status's figures", func() bool {
		var before, after api.RouterStatus
		getJSON(t, base, routerToken, "/v1/status", &before)
		n := polls(t, ctx)
		waitFor(t, 10*time.Second, "a page refresh", func() bool { return polls(t, ctx) >= n+2 })
		page := make([]string, len(fields))
		for i, f := range fields {
			page[i] = text(t, ctx, f.id)
		}
		getJSON(t, base, routerToken, "/v1/status", &after)
		for i, f := range fields {
			if _, ok := matched[f.id]; ok {
				continue
			}
			if v, ok := number(page[i]); ok && f.get(&before) == f.get(&after) && v == f.get(&after) {
				matched[f.id] = page[i]
				delete(last, f.id)
			} else {
				last[f.id] = fmt.Sprintf("page %q, status %v then %v", page[i], f.get(&before), f.get(&after))
			}
		}
		return len(matched) == len(fields)
	})
	t.Logf("the page showed /v1/status's figures: %v", matched)
	if ld.ok.Load() == 0 {
		t.Fatal("no load")
	}

	// The warm pool's figures and one table row per pod.
	var st api.RouterStatus
	getJSON(t, base, routerToken, "/v1/status", &st)
	if st.Pool == nil {
		t.Fatal("no warm pool in /v1/status with a local fleet")
	}
	if got := text(t, ctx, "#warm"); !strings.Contains(got, "target") {
		t.Errorf("warm pool section: %q", got)
	}
	var pods api.PodList
	getJSON(t, base, routerToken, "/v1/pods", &pods)
	waitFor(t, 10*time.Second, "one row per pod", func() bool {
		for _, p := range pods.Pods {
			if text(t, ctx, fmt.Sprintf(`#pods tr[data-key=%q]`, p.Name)) == "" {
				return false
			}
		}
		return true
	})

	fleetOps(t, ctx, base)
	screenshot(t, ctx, "voxrouter")
}

// fleetOps sets a pool's weight and drains a pod from the page, through
// the router's fleet operations (/v1/pools, /v1/drains,
// /v1/pods/{pod}/drain).
func fleetOps(t *testing.T, ctx context.Context, base string) {
	var pools api.PoolList
	if code := getJSON(t, base, routerToken, "/v1/pools", &pools); code != http.StatusOK {
		t.Fatalf("GET /v1/pools: HTTP %d", code)
	}
	if len(pools.Pools) == 0 {
		t.Fatal("GET /v1/pools lists no pool")
	}

	// The weight, typed into the pool's row and confirmed: 0 takes no
	// new session (the only pool: the admission finds no pod), then 1
	// takes them again.
	pool := pools.Pools[0].Name
	setWeight := func(w string, want float64) {
		run(t, ctx, chromedpSetValue("#weight-"+pool, w))
		clickConfirm(t, ctx, "set-weight-"+pool)
		waitFor(t, 10*time.Second, "weight "+w+" in /v1/pools", func() bool {
			var pl api.PoolList
			getJSON(t, base, routerToken, "/v1/pools", &pl)
			for _, p := range pl.Pools {
				if p.Name == pool {
					return p.Weight == want
				}
			}
			return false
		})
		waitFor(t, 10*time.Second, "the page's notice of weight "+w, func() bool {
			return strings.Contains(text(t, ctx, "#notice"), "weight set to "+w+".")
		})
	}
	// (Refused after the router's wait for an allocation: a pool of
	// weight 0 keeps no warm pool.)
	admit := func(session string) int {
		return doJSONWithin(t, 40*time.Second, http.MethodPost, base, routerToken, "/v1/sessions/"+session+"/participants",
			api.AdmitRequest{ParticipantID: "w"}, nil)
	}
	setWeight("0", 0)
	if code := admit("weight-zero"); code == http.StatusCreated {
		t.Errorf("a new session was placed on pool %s of weight 0", pool)
	}
	setWeight("1", 1)
	if code := admit("weight-one"); code != http.StatusCreated {
		t.Errorf("a new session on pool %s of weight 1: HTTP %d", pool, code)
	}
	waitFor(t, 5*time.Second, "the weight on the page", func() bool {
		return eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).value`, "#weight-"+pool)) == "1"
	})

	// A drain: the pod with the most participants, from its row; its
	// progress shows on screen until it is done.
	var pods api.PodList
	getJSON(t, base, routerToken, "/v1/pods", &pods)
	var pod string
	most := -1
	for _, p := range pods.Pods {
		if p.Participants > most {
			pod, most = p.Name, p.Participants
		}
	}
	// With a grace, the drain can be cancelled from the page.
	run(t, ctx, chromedpSetValue("#drain-grace", "60s"))
	clickConfirm(t, ctx, "drain-pod-"+pod)
	waitFor(t, 10*time.Second, "the drain in its grace on the page", func() bool {
		return strings.HasPrefix(text(t, ctx, "#drain-"+pod), api.FleetDrainStopped) &&
			eval[bool](t, ctx, fmt.Sprintf(`!document.querySelector(%q).disabled`, "#cancel-pod-"+pod))
	})
	clickConfirm(t, ctx, "cancel-pod-"+pod)
	waitFor(t, 10*time.Second, "the drain cancelled", func() bool {
		var d api.FleetDrains
		getJSON(t, base, routerToken, "/v1/drains", &d)
		return len(d.Drains) > 0 && d.Drains[0].Pod == pod && d.Drains[0].Phase == api.FleetDrainCancelled
	})
	waitFor(t, 5*time.Second, "the page to show the drain cancelled", func() bool {
		return strings.HasPrefix(text(t, ctx, "#drain-"+pod), api.FleetDrainCancelled)
	})

	// Without one, it runs to its end.
	run(t, ctx, chromedpSetValue("#drain-grace", "0s"))
	clickConfirm(t, ctx, "drain-pod-"+pod)
	seen := map[string]bool{}
	waitFor(t, 100*time.Second, "the drain of "+pod+" to be done", func() bool {
		seen[text(t, ctx, "#drain-"+pod)] = true
		var d api.FleetDrains
		getJSON(t, base, routerToken, "/v1/drains", &d)
		for _, x := range d.Drains {
			if x.Pod == pod && x.Phase == api.FleetDrainDone {
				return true
			}
		}
		return false
	})
	waitFor(t, 5*time.Second, "the page to show the drain done", func() bool {
		return strings.HasPrefix(text(t, ctx, "#drain-"+pod), api.FleetDrainDone)
	})
	t.Logf("drain of %s as the page showed it: %q", pod, keys(seen))
	if len(seen) < 2 {
		t.Errorf("the drain's progress was not seen on the page: %q", keys(seen))
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
