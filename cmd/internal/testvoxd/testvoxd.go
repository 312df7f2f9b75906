// Package testvoxd runs the server parts voxd wires together (UDP core,
// session manager, admin API) in-process on loopback, for the tests of the
// tools that talk to a voxd (voxctl, voxbench).
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

// Start runs a server with 2 shards and an admin API requiring token, all
// stopped when the test ends. It returns the admin address and the manager.
func Start(t testing.TB, token string) (adminAddr string, m *sessionmgr.Manager) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Each shard holds a P while it waits for packets: leave one spare, as voxd does.
	if prev := runtime.GOMAXPROCS(0); prev <= 2 {
		runtime.GOMAXPROCS(3)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	m, err := sessionmgr.New(sessionmgr.Config{Logger: quiet})
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
	a, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Token: token, Logger: quiet}, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return a.Addr(), m
}
