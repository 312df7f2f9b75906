//go:build linux

// Command netfwd is vox's UDP core (package netio) as a plain fan-out
// forwarder, for measuring it against the C reference forwarder of
// shared/tools/udpbase with the same generator, sink and method.
//
// Its command line and output are those of udpbase's fwd.c and gofwd: every
// datagram received on -l is sent -f times, copy k to the port of -d plus
// k % -D; per-second rates on stderr; one "RESULT fwd ..." line on stdout at
// exit (after -t seconds, SIGINT or SIGTERM).
//
// With -srtp it does an SFU's per-packet work with vox's media package:
// authenticate and decrypt every packet once (one inbound context per SSRC,
// replay protected), then encrypt it once per copy with that receiver's own
// outbound context, straight into the shard's send queue. Keys are udpbase's
// deterministic test keys (index 0 ingress, k+1 for copy k), so udpbase's
// gogen -srtp produces valid input.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

type config struct {
	listen, dst    string
	shards, fanout int
	ndst, batch    int
	secs           int
	srtp           bool
	profile        media.Profile
	cpuprofile     string
	noLock         bool
	dsts           []netip.AddrPort
}

func main() {
	os.Exit(run())
}

func run() int {
	var c config
	c.profile = media.ProfileAESCM128HMACSHA1_80
	flag.StringVar(&c.listen, "l", "127.0.0.1:40000", "listen address (loopback only)")
	flag.StringVar(&c.dst, "d", "127.0.0.1:41000", "first destination address (loopback only)")
	flag.IntVar(&c.shards, "n", 1, "shards (SO_REUSEPORT sockets, one thread each)")
	flag.IntVar(&c.fanout, "f", 1, "copies sent per received datagram")
	flag.IntVar(&c.ndst, "D", 0, "destination ports (copy k goes to port+k%D); default -f")
	flag.IntVar(&c.batch, "b", netio.DefaultBatchSize, "recvmmsg batch size")
	flag.IntVar(&c.secs, "t", 10, "exit after this many seconds")
	flag.BoolVar(&c.srtp, "srtp", false, "decrypt once, re-encrypt per copy (SFU work)")
	profile := flag.String("profile", "aes_cm_80", "SRTP profile: aes_cm_80, aes_cm_32 or gcm")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile to this file")
	flag.BoolVar(&c.noLock, "nolock", false, "do not lock shard goroutines to OS threads")
	spareP := flag.Bool("sparep", true, "raise GOMAXPROCS to shards+1 (each shard holds a P)")
	flag.Parse()
	switch *profile {
	case "aes_cm_80":
		c.profile = media.ProfileAESCM128HMACSHA1_80
	case "aes_cm_32":
		c.profile = media.ProfileAESCM128HMACSHA1_32
	case "gcm":
		c.profile = media.ProfileAEADAES128GCM
	default:
		fmt.Fprintf(os.Stderr, "netfwd: unknown profile %q\n", *profile)
		return 2
	}
	if c.ndst == 0 {
		c.ndst = c.fanout
	}
	d, err := netip.ParseAddrPort(c.dst)
	if err != nil || !d.Addr().IsLoopback() {
		fmt.Fprintf(os.Stderr, "netfwd: -d %q: want a loopback host:port\n", c.dst)
		return 2
	}
	if l, err := netip.ParseAddrPort(c.listen); err != nil || !l.Addr().IsLoopback() {
		fmt.Fprintf(os.Stderr, "netfwd: -l %q: want a loopback host:port\n", c.listen)
		return 2
	}
	for k := range c.ndst {
		c.dsts = append(c.dsts, netip.AddrPortFrom(d.Addr(), d.Port()+uint16(k)))
	}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netfwd:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "netfwd:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	if *spareP && runtime.GOMAXPROCS(0) <= c.shards {
		runtime.GOMAXPROCS(c.shards + 1)
	}
	var handlers []*fwdHandler
	errc := make(chan error, c.shards)
	cfg := netio.Config{Addr: c.listen, Shards: c.shards, BatchSize: c.batch,
		SendQueue: max(netio.DefaultSendQueue, c.batch*c.fanout), NoLockOSThread: c.noLock}
	ready := make(chan *fwdHandler, c.shards)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	srv, err := netio.Listen(cfg, func(sh *netio.Shard) netio.Handler {
		h, err := newHandler(&c)
		if err != nil {
			errc <- err
		}
		ready <- h
		return h
	}, netio.Options{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "netfwd:", err)
		return 1
	}
	for range srv.NumShards() {
		handlers = append(handlers, <-ready)
	}
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "netfwd:", err)
		srv.Close()
		return 1
	default:
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	t0 := time.Now()
	deadline := time.After(time.Duration(c.secs) * time.Second)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastT, lastIn, lastOut := t0, uint64(0), uint64(0)
loop:
	for {
		select {
		case <-sig:
			break loop
		case <-deadline:
			break loop
		case now := <-tick.C:
			st := srv.Stats()
			dt := now.Sub(lastT).Seconds()
			fmt.Fprintf(os.Stderr, "netfwd %6.1fs in %9.0f pps out %9.0f pps\n",
				now.Sub(t0).Seconds(), float64(st.RxPackets-lastIn)/dt, float64(st.TxPackets-lastOut)/dt)
			lastT, lastIn, lastOut = now, st.RxPackets, st.TxPackets
		}
	}
	srv.Close()
	secs := time.Since(t0).Seconds()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()

	st := srv.Stats()
	perShard := make([]string, srv.NumShards())
	for i := range perShard {
		perShard[i] = fmt.Sprint(srv.Shard(i).Stats().RxPackets)
	}
	var authFail, replay, other uint64
	for _, h := range handlers {
		authFail += h.authFail
		replay += h.replay
		other += h.malformed
	}
	allocs := 0.0
	if st.RxPackets > 0 {
		allocs = float64(ms1.Mallocs-ms0.Mallocs) / float64(st.RxPackets)
	}
	srtpName := "none"
	if c.srtp {
		srtpName = *profile
	}
	sendErr := st.TxDropFull + st.TxRefused + st.TxUnreachable + st.TxErrors + st.TxBadAddr
	fmt.Printf("RESULT fwd impl=vox srtp=%s threads=%d fanout=%d in=%d out=%d senderr=%d authfail=%d "+
		"replay=%d malformed=%d recvcalls=%d sendcalls=%d truncated=%d kerneldrops=%d steering=%v "+
		"secs=%.3f cpu_s=%.3f allocs_per_in=%.4f gc=%d thread_in=%s\n",
		srtpName, srv.NumShards(), c.fanout, st.RxPackets, st.TxPackets, sendErr, authFail,
		replay, other, st.RxBatches, st.TxCalls, st.DropTruncated, st.KernelDrops, srv.Steering(),
		secs, cpu, allocs, ms1.NumGC-ms0.NumGC, strings.Join(perShard, ","))
	return 0
}
