package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/podreport"
)

// routerConfig is voxd's side of the fleet router: where to report.
type routerConfig struct {
	url       string // --router; empty: no reports
	token     string
	tokenFile string
	podName   string
	pool      string
	adminURL  string
}

// register adds the router flags to fs.
func (rc *routerConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&rc.url, "router", "",
		"fleet router base URL (voxrouter), e.g. http://voxrouter:8090: the pod reports itself\nthere every second. Empty: no reports (the pod is used directly).")
	fs.StringVar(&rc.token, "router-token", "",
		"the router's report token (its --report-token). Prefer --router-token-file or the environment.")
	fs.StringVar(&rc.tokenFile, "router-token-file", "", "file holding the router's report token.")
	fs.StringVar(&rc.podName, "pod-name", "",
		"this pod's name in the fleet (unique). Default: the host name (under Agones and\nKubernetes, the pod's, which is the GameServer's name).")
	fs.StringVar(&rc.pool, "pool", "default", "the pool (Fleet) this pod belongs to, as reported to the router.")
	fs.StringVar(&rc.adminURL, "admin-url", "",
		"URL at which the router reaches this pod's admin API. Default: http://<--admin-addr>,\nwith a wildcard host replaced by the host name (in Kubernetes set it from the pod IP).")
}

// validate completes the router settings once the flags are parsed
// (the admin URL's default waits for the bound address: defaultAdminURL).
func (rc *routerConfig) validate() error {
	if rc.url == "" {
		return nil
	}
	if rc.tokenFile != "" {
		if rc.token != "" {
			return errors.New("--router-token and --router-token-file are exclusive")
		}
		b, err := os.ReadFile(rc.tokenFile)
		if err != nil {
			return fmt.Errorf("--router-token-file: %w", err)
		}
		rc.token = strings.TrimSpace(string(b))
	}
	host, _ := os.Hostname()
	if rc.podName == "" {
		rc.podName = host
	}
	if !api.ValidID(rc.podName) {
		return fmt.Errorf("--pod-name %q: want 1-64 of [A-Za-z0-9._-]", rc.podName)
	}
	if rc.adminURL != "" {
		if _, err := url.Parse(rc.adminURL); err != nil {
			return fmt.Errorf("--admin-url: %w", err)
		}
	}
	return nil
}

// defaultAdminURL is http://<the admin API's bound address>, a wildcard
// host replaced by the host name.
func defaultAdminURL(bound string) string {
	h, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "http://" + bound
	}
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		h, _ = os.Hostname()
	}
	return "http://" + net.JoinHostPort(h, port)
}

// startReporter starts reporting to the router when --router is set, and
// returns the function that stops it. lc (nil when standalone) gives the
// GameServer state.
func startReporter(ctx context.Context, cfg *config, s servers, lc *agones.Lifecycle, log *slog.Logger) (stop func()) {
	rc := &cfg.router
	var last atomic.Pointer[api.PodReport] // the pod page's last report (admin.PodInfo)
	s.admin.SetPodInfo(func() admin.PodInfo {
		i := admin.PodInfo{Agones: "off", Router: rc.url, LastReport: last.Load()}
		if lc != nil {
			i.Agones, i.GameServerState = "on", lc.State()
		}
		return i
	})
	if rc.url == "" {
		return func() {}
	}
	if rc.adminURL == "" {
		rc.adminURL = defaultAdminURL(s.admin.Addr())
	}
	var gsState func() string
	if lc != nil {
		gsState = lc.State
	}
	rep, err := podreport.New(podreport.Config{RouterURL: rc.url, Token: rc.token, Name: rc.podName,
		Pool: rc.pool, AdminURL: rc.adminURL, Logger: log, Source: lastReport(podreport.FromManager(s.sessions, gsState), rc, &last)})
	if err != nil {
		log.Error("cannot report to the router", "err", err)
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep.Run(ctx)
	}()
	log.Info("reporting to the router", "router", rc.url, "pod", rc.podName, "pool", rc.pool, "admin_url", rc.adminURL)
	return func() {
		cancel()
		<-done
	}
}

// lastReport wraps a report Source to keep a copy of each report it builds
// for the pod page, with the fields the Reporter adds (its own count as
// Seq, the time built).
func lastReport(src func() api.PodReport, rc *routerConfig, last *atomic.Pointer[api.PodReport]) func() api.PodReport {
	var seq uint64 // the Reporter's goroutine only
	return func() api.PodReport {
		r := src()
		seq++
		c := r
		c.Name, c.Pool, c.AdminURL, c.Seq, c.At = rc.podName, rc.pool, rc.adminURL, seq, time.Now().UTC()
		last.Store(&c)
		return r
	}
}
