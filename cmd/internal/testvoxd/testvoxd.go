// Package testvoxd runs the server parts voxd wires together (UDP core,
// session manager, admin API) in-process on loopback, for the tests of the
// tools that talk to a voxd (voxctl, voxbench, voxrouter).
package testvoxd

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/sessionmgr"
)

// Options change a test server; the zero value is Start's.
type Options struct {
	// Token is the admin API's bearer token.
	Token string
	// Limits replace the session manager's default limits when not zero.
	Limits sessionmgr.Limits
}

// Server is a running test server.
type Server struct {
	// AdminAddr is the admin API's host:port; AdminURL its base URL.
	AdminAddr, AdminURL string
	// Manager is the session manager.
	Manager *sessionmgr.Manager
	// Admin is the admin API server.
	Admin *admin.Server
	// UDP is the UDP core.
	UDP *netio.Server
}

// Start runs a server with 2 shards and an admin API requiring token, all
// stopped when the test ends. It returns the admin address and the manager.
func Start(t testing.TB, token string) (adminAddr string, m *sessionmgr.Manager) {
	t.Helper()
	s := StartWith(t, Options{Token: token})
	return s.AdminAddr, s.Manager
}

// StartWith runs a server with opts, stopped when the test ends.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Each shard holds a P while it waits for packets: leave one spare, as voxd does.
	if prev := runtime.GOMAXPROCS(0); prev <= 2 {
		runtime.GOMAXPROCS(3)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	m, err := sessionmgr.New(sessionmgr.Config{Logger: quiet, Limits: opts.Limits})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 2}, m.NewHandler, netio.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	if err := m.Start(udp); err != nil {
		t.Fatal(err)
	}
	a, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Token: opts.Token, Logger: quiet}, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return &Server{AdminAddr: a.Addr(), AdminURL: "http://" + a.Addr(), Manager: m, Admin: a, UDP: udp}
}
