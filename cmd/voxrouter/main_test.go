package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/testvoxd"
	"github.com/voxfleet/vox/podreport"
	"github.com/voxfleet/vox/router"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func noEnv(string) (string, bool) { return "", false }

// TestMainEndToEnd runs voxrouter's main function: a pod reports to it
// (its reporter loop), a participant is admitted through it, /readyz turns
// ready, and ending the context stops it with exit 0.
func TestMainEndToEnd(t *testing.T) {
	pod := testvoxd.StartWith(t, testvoxd.Options{Token: podToken})
	env := map[string]string{"VOX_TOKEN": apiToken, "VOX_REPORT_TOKEN": reportToken, "VOX_POD_TOKEN": podToken}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *router.Server, 1)
	exit := make(chan int, 1)
	var logs syncBuffer
	go func() {
		exit <- run(ctx, []string{"--addr", "127.0.0.1:0", "--log-format", "json", "--ready-grace", "1h"}, lookup, &logs, ready)
	}()
	var srv *router.Server
	select {
	case srv = <-ready:
	case code := <-exit:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	base := "http://" + srv.Addr()
	probe, _ := client.NewAPI(base, "")
	if code, _ := probe.Do(ctx, "GET", "/readyz", nil, nil); code != 503 {
		t.Fatalf("readyz before any report: %d", code)
	}

	rep, err := podreport.New(podreport.Config{RouterURL: base, Token: reportToken, Name: "pod-1",
		AdminURL: pod.AdminURL, Source: podreport.FromManager(pod.Manager, nil), Interval: 10 * time.Millisecond,
		Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopReports := context.WithCancel(ctx)
	defer stopReports()
	go rep.Run(rctx)

	backend, _ := client.NewAPI(base, apiToken)
	var adm api.RouterAdmission
	for deadline := time.Now().Add(10 * time.Second); ; {
		adm, err = backend.AdmitRouted(ctx, "lobby", api.AdmitRequest{ParticipantID: "p1"}, "")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the first report is on its way
	}
	if err != nil || adm.Pod != "pod-1" || adm.SSRC == 0 {
		t.Fatalf("admission: %+v %v", adm, err)
	}
	if code, _ := probe.Do(ctx, "GET", "/readyz", nil, nil); code != 200 {
		t.Fatalf("readyz after a report: %d", code)
	}
	if m, err := getText(base + "/metrics"); err != nil || !strings.Contains(m, `vox_router_admissions_total{result="ok"} 1`) ||
		!strings.Contains(m, "vox_router_admission_duration_seconds") || !strings.Contains(m, `vox_router_pods{state="placeable"} 1`) {
		t.Fatalf("metrics: %v\n%s", err, m)
	}
	stopReports()
	cancel()
	waitExit(t, exit, &logs)
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("logs: %s", logs.String())
	}
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, noEnv, &out, nil); code != exitOK {
		t.Fatalf("--help: %d", code)
	}
	for _, want := range []string{"--stale-after", "$VOX_STALE_AFTER", "--report-token", "$VOX_POD_TOKEN", "--forget-after"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good.yaml", "pools:\n- name: v1\n  weight: 1\n  region: eu\n- name: v2\n  weight: 0.0001\n")
	if _, err := parseFlags([]string{"--pools", good}, noEnv, &out); err != nil {
		t.Fatalf("--pools %s: %v", good, err)
	}
	for _, args := range [][]string{
		{"--pools", "/nonexistent"},
		{"--pools", file("unknown.yaml", "pools:\n- name: v1\n  wieght: 1\n")},
		{"--pools", file("empty.yaml", "pools: []\n")},
		{"--pools", file("badname.yaml", "pools:\n- name: a b\n")},
		{"--pools", file("badalloc.yaml", "pools:\n- name: v1\n  allocator: magic\n")},
		{"--pools", file("svc.yaml", "pools:\n- name: v1\n  allocator: allocator-service\n")}, // no URL, cert, key
		{"--pools", good, "--allocator", "kubernetes"},                                        // exclusive
		{"--pools", good, "--local-fleet", "2"},                                               // exclusive
		{"--reconnect-budget", "0"},
		{"--state-file", "/tmp/x", "--redis", "127.0.0.1:6379"}, // exclusive
		{"--max-draining", "0"},
		{"--consolidate-cpu", "-1"},
		{"--addr", "0.0.0.0:8090"},                       // exposed without tokens
		{"--addr", "0.0.0.0:8090", "--token", "a"},       // without the report token
		{"--stale-after", "10s", "--forget-after", "5s"}, // forget before stale
		{"--log-format", "xml"},                          //
		{"--token", "a", "--token-file", "/nonexistent"}, // exclusive
		{"extra"},                 //
		{"--redis", "nohostport"}, // not host:port
		{"--redis-password-file", "/nonexistent"},                    // without --redis
		{"--redis", "127.0.0.1:6379", "--redis-password-file", "/x"}, // unreadable
	} {
		out.Reset()
		if code := run(context.Background(), args, noEnv, &out, nil); code != exitUsage {
			t.Errorf("%q: exit %d (%s)", args, code, out.String())
		}
	}
}

func getText(url string) (string, error) {
	resp, err := client.DefaultHTTPClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return b.String(), err
}

// waitExit waits for run to return after its context ended: exit 0, within
// a bound.
func waitExit(t *testing.T, exit <-chan int, logs *syncBuffer) {
	t.Helper()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("voxrouter did not stop")
	}
}
