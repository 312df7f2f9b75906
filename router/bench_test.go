package router

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
)

// BenchmarkRouterOverhead isolates the router's own cost per admission:
// a stub pod answers an admission at once, and each iteration admits a
// new session through the router's HTTP API (store, placement, the proxy
// call to the stub) and once directly on the stub, alternated. The
// router_added_* metrics are the percentiles of the difference (one more
// loopback HTTP hop included).
//
//	go test -run '^$' -bench RouterOverhead -benchtime 20000x ./router
func BenchmarkRouterOverhead(b *testing.B) {
	answer, _ := json.Marshal(api.Admission{SessionID: "s", ParticipantID: "p", SSRC: 1,
		SRTP: api.SRTPKeys{Profile: api.DefaultProfile}})
	pod := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(answer)
	}))
	defer pod.Close()
	r, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0"}, r)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ctx := context.Background()
	var seq uint64
	report := func() {
		seq++
		err := r.Report(ctx, api.PodReport{Name: "stub", Instance: "i", Seq: seq, AdminURL: pod.URL,
			Limits: api.Limits{MaxSessions: 1 << 30, MaxParticipants: 1 << 30}, Accepting: true, State: api.StateAccepting})
		if err != nil {
			b.Fatal(err)
		}
	}
	report()
	viaRouter, _ := client.NewAPI("http://"+srv.Addr(), "")
	direct, _ := client.NewAPI(pod.URL, "")
	var tr, td []time.Duration
	for i := 0; b.Loop(); i++ {
		s := fmt.Sprintf("s%d", i)
		t0 := time.Now()
		if _, err := viaRouter.AdmitRouted(ctx, s, api.AdmitRequest{}, ""); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := direct.Admit(ctx, s, api.AdmitRequest{}); err != nil {
			b.Fatal(err)
		}
		tr, td = append(tr, t1.Sub(t0)), append(td, time.Since(t1))
		if i%1000 == 999 {
			report()
		}
	}
	slices.Sort(tr)
	slices.Sort(td)
	q := func(l []time.Duration, p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Nanoseconds()) / 1000
	}
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}} {
		b.ReportMetric(q(tr, p.q), "router_"+p.name+"_µs")
		b.ReportMetric(q(td, p.q), "direct_"+p.name+"_µs")
		b.ReportMetric(q(tr, p.q)-q(td, p.q), "router_added_"+p.name+"_µs")
	}
}
