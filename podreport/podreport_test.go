package podreport

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// fakeRouter records reports and fails while down is set.
type fakeRouter struct {
	mu      sync.Mutex
	down    bool
	reports []api.PodReport
	auth    []string
}

func (f *fakeRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		http.Error(w, `{"error":"down","code":"internal"}`, http.StatusInternalServerError)
		return
	}
	var rep api.PodReport
	if r.URL.Path != "/v1/pods/pod-1/report" || json.NewDecoder(r.Body).Decode(&rep) != nil {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	f.reports = append(f.reports, rep)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	w.WriteHeader(http.StatusNoContent)
}

func newReporter(t *testing.T, url string, log *slog.Logger) *Reporter {
	t.Helper()
	r, err := New(Config{RouterURL: url, Token: "tok", Name: "pod-1", AdminURL: "http://10.0.0.1:8080",
		Hostname: "pod-1.example", Logger: log, Source: func() api.PodReport {
			return api.PodReport{Participants: 3, Accepting: true, State: api.StateAccepting,
				Sessions: []api.PodSession{{ID: "s", Participants: 3}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReports: each report carries the pod's identity, an increasing seq,
// one instance, the Source's figures and the token.
func TestReports(t *testing.T) {
	fr := &fakeRouter{}
	srv := httptest.NewServer(fr)
	defer srv.Close()
	r := newReporter(t, srv.URL, slog.New(slog.DiscardHandler))
	for range 3 {
		if err := r.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(fr.reports) != 3 {
		t.Fatalf("%d reports", len(fr.reports))
	}
	for i, rep := range fr.reports {
		if rep.Seq != uint64(i+1) || rep.Instance != r.Instance() || rep.Name != "pod-1" || rep.Pool != "default" ||
			rep.AdminURL != "http://10.0.0.1:8080" || rep.Hostname != "pod-1.example" || rep.Participants != 3 ||
			len(rep.Sessions) != 1 || rep.At.IsZero() || fr.auth[i] != "Bearer tok" {
			t.Errorf("report %d: %+v (auth %q)", i, rep, fr.auth[i])
		}
	}
}

// TestOutageLoggedOnce: while the router is down the reporter backs off
// (doubling, capped) and logs the outage once, then its end once.
func TestOutageLoggedOnce(t *testing.T) {
	fr := &fakeRouter{down: true}
	srv := httptest.NewServer(fr)
	defer srv.Close()
	var logs bytes.Buffer
	r := newReporter(t, srv.URL, slog.New(slog.NewTextHandler(&logs, nil)))
	var waits []time.Duration
	for range 8 {
		waits = append(waits, r.next(r.Once(context.Background())))
	}
	fr.mu.Lock()
	fr.down = false
	fr.mu.Unlock()
	if w := r.next(r.Once(context.Background())); w != DefaultInterval {
		t.Fatalf("after the outage: wait %v", w)
	}
	for i, w := range waits {
		full := min(DefaultInterval<<i, DefaultMaxBackoff)
		if w > full || w < full*3/4 {
			t.Errorf("wait %d: %v, want within [%v, %v]", i, w, full*3/4, full)
		}
	}
	if n := strings.Count(logs.String(), "cannot report to the router"); n != 1 {
		t.Errorf("outage logged %d times:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "router reachable again"); n != 1 {
		t.Errorf("recovery logged %d times:\n%s", n, logs.String())
	}
}

// TestRunStops: Run reports at once, then every interval, until ctx ends.
func TestRunStops(t *testing.T) {
	fr := &fakeRouter{}
	srv := httptest.NewServer(fr)
	defer srv.Close()
	r := newReporter(t, srv.URL, slog.New(slog.DiscardHandler))
	r.cfg.Interval = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	for {
		fr.mu.Lock()
		n := len(fr.reports)
		fr.mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []Config{
		{RouterURL: "http://x", Name: "p"}, // no source
		{RouterURL: "http://x", Name: "bad name", Source: func() api.PodReport { return api.PodReport{} }}, // name
		{RouterURL: "ftp://x", Name: "p", Source: func() api.PodReport { return api.PodReport{} }},         // url
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
