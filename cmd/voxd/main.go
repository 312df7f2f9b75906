// Command voxd is the vox voice media server.
//
// For now it serves the sharded UDP core (package netio) with an echo
// handler, so the core can be run and measured; the media path plugs in
// here as it lands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/voxfleet/vox/cmd/internal/envflag"
	"github.com/voxfleet/vox/netio"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // could not start, or a fatal error while running
	exitUsage  = 2 // bad flags or environment
	exitForced = 3 // a second signal forced the exit before a clean stop
)

const summary = `voxd — vox voice media server (SRTP over UDP, sharded, batched).

Usage: voxd [flags]

Runs standalone on one UDP port; every flag can also be set with its VOX_*
environment variable. Stops cleanly on SIGINT or SIGTERM; a second signal
forces the exit.`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stderr, nil))
}

// config is voxd's configuration, from flags and the environment.
type config struct {
	net       netio.Config
	logFormat string
	logLevel  slog.Level
}

func parseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("voxd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.net.Addr, "udp-addr", ":7000",
		"UDP address for media, host:port. An empty host listens on every interface,\nIPv6 and IPv4 (dual stack).")
	fs.IntVar(&c.net.Shards, "shards", runtime.GOMAXPROCS(0),
		fmt.Sprintf("number of sockets (SO_REUSEPORT shards) on the UDP port, each served by its own\nthread; default GOMAXPROCS, at most %d.", netio.MaxShards))
	fs.IntVar(&c.net.BatchSize, "batch-size", netio.DefaultBatchSize,
		fmt.Sprintf("most datagrams one recvmmsg call returns (1..%d).", netio.MaxBatchSize))
	fs.IntVar(&c.net.MaxDatagram, "max-datagram", netio.DefaultMaxDatagram,
		"largest UDP payload accepted, in bytes; larger datagrams are dropped and counted.")
	fs.IntVar(&c.net.SendQueue, "send-queue", netio.DefaultSendQueue,
		"datagrams each shard queues before it must flush with sendmmsg.")
	fs.DurationVar(&c.net.TickInterval, "tick", netio.DefaultTickInterval,
		"longest a shard sleeps without traffic before running its timers and control mailbox.")
	fs.IntVar(&c.net.RecvBuffer, "recv-buffer", netio.DefaultSocketBuffer,
		"socket receive buffer per shard, in bytes (SO_RCVBUFFORCE with CAP_NET_ADMIN,\nelse capped by net.core.rmem_max).")
	fs.IntVar(&c.net.SendBuffer, "send-buffer", netio.DefaultSocketBuffer,
		"socket send buffer per shard, in bytes.")
	fs.BoolVar(&c.net.NoSteering, "no-steering", false,
		"do not attach the SSRC steering program; the kernel spreads packets over the shards\nby address hash instead.")
	fs.StringVar(&c.logFormat, "log-format", "auto",
		"log format: json, text, or auto (text on a terminal, JSON otherwise, e.g. in a container).")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error.")
	fs.Usage = envflag.Usage(fs, "VOX_", summary)
	if err := envflag.Parse(fs, "VOX_", args, lookup); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	switch c.logFormat {
	case "auto", "json", "text":
	default:
		return nil, fmt.Errorf("--log-format %q: want json, text or auto", c.logFormat)
	}
	if err := c.net.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func newLogger(c *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	format := c.logFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// run is voxd's whole life. ready, when not nil, receives the server once
// it serves (for tests).
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stderr io.Writer, ready chan<- *netio.Server) int {
	cfg, err := parseFlags(args, lookup, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "voxd: %v\n", err)
		return exitUsage
	}
	log := newLogger(cfg, stderr)

	// Each shard holds a P while it waits in recvmmsg (see netio): the
	// admin plane, the Agones loop and the GC get a P of their own.
	if procs := runtime.GOMAXPROCS(0); procs <= cfg.net.Shards {
		runtime.GOMAXPROCS(cfg.net.Shards + 1)
		log.Debug("GOMAXPROCS raised above the shard count", "from", procs, "to", cfg.net.Shards+1)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	srv, err := netio.Listen(cfg.net, func(*netio.Shard) netio.Handler { return echo{} }, netio.Options{Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	log.Info("voxd serving (echo handler)", "udp", srv.LocalAddr().String())
	if ready != nil {
		ready <- srv
	}

	select {
	case s := <-sigs:
		log.Info("stopping", "signal", s.String())
	case <-ctx.Done():
		log.Info("stopping", "cause", context.Cause(ctx).Error())
	case <-srv.Done():
		log.Error("UDP core stopped unexpectedly")
		return exitFailed
	}
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Close() }()
	select {
	case err := <-stopped:
		if err != nil {
			log.Error("close", "err", err)
			return exitFailed
		}
	case s := <-sigs:
		log.Warn("forced exit", "signal", s.String())
		return exitForced
	case <-time.After(10 * time.Second):
		log.Error("close did not finish within 10 s")
		return exitFailed
	}
	st := srv.Stats()
	log.Info("stopped", "rx_packets", st.RxPackets, "tx_packets", st.TxPackets,
		"drop_truncated", st.DropTruncated, "kernel_drops", st.KernelDrops)
	return exitOK
}

// echo sends every datagram back to its sender: the stand-in handler until
// the media path lands, and a way to measure the UDP core alone.
type echo struct{}

func (echo) HandleBatch(_ int64, pkts []netio.Packet, q *netio.SendQueue) {
	for _, p := range pkts {
		q.Send(p.Data, p.From)
	}
}

func (echo) Tick(int64, *netio.SendQueue) {}
