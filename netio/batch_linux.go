//go:build linux

package netio

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const haveBatchIO = true

// oobSize holds one SO_RXQ_OVFL control message (a uint32).
var oobSize = unix.CmsgSpace(4)

// batchConn is a shard socket served with recvmmsg/sendmmsg on preallocated
// message arrays. The socket is blocking with SO_RCVTIMEO = TickInterval, so
// an idle shard sleeps in the kernel, as the C reference does, instead of
// paying an EAGAIN and an epoll round trip each time its queue runs empty.
//
// Both calls are raw system calls: the runtime is not told the thread is in
// a syscall, so the shard keeps its P while it sleeps in recvmmsg, like a
// dedicated C thread. Through syscall.Syscall6 instead, sysmon would retake
// the P of every blocked shard and, while any shard is blocked, wake every
// 20 µs to do so: measured here at fan-out 3 and 65 kpps, that made the
// forwarder cost 1.6-1.9x the C reference's CPU per packet; raw, it costs
// about the same as C. The price: the rest of the process needs a P of its
// own (GOMAXPROCS = shards + 1, which voxd sets), and a goroutine waiting for
// a P runs when sysmon preempts a shard (SIGURG interrupts recvmmsg with
// EINTR, as the socket has a timeout) or when an idle shard yields. A GC
// stop-the-world preempts shards the same way, within microseconds.
//
// An idle shard sleeps differently (see sleep): in ppoll(2) on the socket
// and an eventfd that Post writes to, through a system call the runtime is
// told about.
type batchConn struct {
	fd     int
	efd    int // eventfd: wake makes it readable, sleep resets it
	family int // unix.AF_INET or unix.AF_INET6

	// wakeMu keeps a late wake (a Post racing Close) from writing to the
	// eventfd's number once close has released it.
	wakeMu    sync.Mutex
	efdClosed bool

	// Receive side: message i reads into rbufs[i], its source into
	// rnames[i] and its control messages into roob[i*oobSize:].
	rmsgs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrInet6
	roob   []byte
	rbufs  [][]byte
	dirty  int // messages whose in/out fields the last recvmmsg changed

	// Send side: one message per SendQueue position.
	smsgs  []unix.Mmsghdr
	siovs  []unix.Iovec
	snames []unix.RawSockaddrInet6
	pollfd [1]unix.PollFd

	// Sleep side: the socket and the eventfd, and ppoll's timeout.
	sleepfds [2]unix.PollFd
	timeout  unix.Timespec
	counter  [8]byte // the eventfd's counter, read to reset it
	pauseTS  unix.Timespec

	sendRange    sendFunc // c.sendmmsg, bound once (a method value allocates)
	waitWritable func()
}

func newBatchConn(fd, family int, cfg *Config) (*batchConn, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netio: eventfd: %w", err)
	}
	c := &batchConn{
		fd:     fd,
		efd:    efd,
		family: family,
		rmsgs:  make([]unix.Mmsghdr, cfg.BatchSize),
		riovs:  make([]unix.Iovec, cfg.BatchSize),
		rnames: make([]unix.RawSockaddrInet6, cfg.BatchSize),
		roob:   make([]byte, cfg.BatchSize*oobSize),
		rbufs:  make([][]byte, cfg.BatchSize),
		smsgs:  make([]unix.Mmsghdr, cfg.SendQueue),
		siovs:  make([]unix.Iovec, cfg.SendQueue),
		snames: make([]unix.RawSockaddrInet6, cfg.SendQueue),
	}
	arena := make([]byte, cfg.BatchSize*cfg.MaxDatagram)
	for i := range c.rmsgs {
		c.rbufs[i] = arena[i*cfg.MaxDatagram : (i+1)*cfg.MaxDatagram : (i+1)*cfg.MaxDatagram]
		c.riovs[i].Base = &c.rbufs[i][0]
		c.riovs[i].SetLen(cfg.MaxDatagram)
		h := &c.rmsgs[i].Hdr
		h.Iov = &c.riovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&c.rnames[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Control = &c.roob[i*oobSize]
		h.SetControllen(oobSize)
	}
	for i := range c.smsgs {
		h := &c.smsgs[i].Hdr
		h.Iov = &c.siovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&c.snames[i]))
	}
	c.pollfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	c.sleepfds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	c.sleepfds[1] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
	c.sendRange = c.sendmmsg
	c.waitWritable = func() { _, _ = unix.Poll(c.pollfd[:], 1) }
	return c, nil
}

func (c *batchConn) recv(pkts []Packet, ctr *counters) (int, error) {
	for i := range c.dirty {
		h := &c.rmsgs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(oobSize)
		h.Flags = 0
	}
	c.dirty = 0
	r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(c.fd),
		uintptr(unsafe.Pointer(&c.rmsgs[0])), uintptr(len(pkts)), unix.MSG_WAITFORONE, 0, 0)
	switch errno {
	case 0:
	case unix.EAGAIN, unix.EINTR: // SO_RCVTIMEO: time to tick
		return 0, nil
	default:
		return 0, errno
	}
	n := int(r)
	c.dirty = n
	k := 0
	var trunc uint64
	for i := range n {
		m := &c.rmsgs[i]
		if m.Hdr.Namelen == 0 {
			// Not a datagram: after shutdown(SHUT_RD) (wake) the kernel
			// reports one empty "message" with no source address.
			continue
		}
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			trunc++
			continue
		}
		pkts[k] = Packet{Data: c.rbufs[i][:m.Len], From: fromSockaddr(&c.rnames[i])}
		k++
	}
	if trunc != 0 {
		ctr.dropTruncated.Add(trunc)
	}
	if n > 0 {
		if d, ok := rxqOverflow(c.roob[(n-1)*oobSize:], c.rmsgs[n-1].Hdr.Controllen); ok {
			ctr.kernelDrops.Store(uint64(d))
		}
	}
	return k, nil
}

// sleep waits in ppoll(2) until the socket is readable, wake was called or
// d passes, then receives what is ready.
//
// Unlike recv, this is a system call the runtime is told about
// (unix.Syscall6): the shard's P is released while it sleeps. Held through a
// raw call, the P would look to the scheduler like a goroutine running for
// d: sysmon would preempt it (SIGURG, EINTR, and the hand-off of a locked
// thread) every 10-20 ms, as often as the tick it replaces, and would never
// rest itself. Released, the P goes idle and, once every P is idle, sysmon
// sleeps too. Measured on a 2-shard process: an idle loop costs 2.4-2.6 % of
// a core with raw 5 ms receives and a yield, 2.3 % with raw 100 ms sleeps,
// 0.27 % with told 100 ms sleeps, 0.04 % with told sleeps without timeout.
// Short told sleeps are no cheaper than raw ones (2.9 % at 5 ms, 1.5 % at
// 20 ms: sysmon keeps retaking the P), hence sleeping only when idle.
func (c *batchConn) sleep(pkts []Packet, ctr *counters, d time.Duration) (int, error) {
	c.timeout = unix.NsecToTimespec(int64(d)) // ppoll writes back what is left
	c.sleepfds[0].Revents, c.sleepfds[1].Revents = 0, 0
	_, _, errno := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&c.sleepfds[0])), uintptr(len(c.sleepfds)),
		uintptr(unsafe.Pointer(&c.timeout)), 0, 0, 0)
	switch errno {
	case 0:
	case unix.EINTR: // a signal, e.g. the runtime's preemption: a short sleep
		return 0, nil
	default:
		return 0, errno
	}
	if c.sleepfds[1].Revents != 0 {
		// Woken: reset the counter (the eventfd is non-blocking).
		_, _, _ = unix.RawSyscall(unix.SYS_READ, uintptr(c.efd), uintptr(unsafe.Pointer(&c.counter[0])), uintptr(len(c.counter)))
	}
	if c.sleepfds[0].Revents == 0 {
		return 0, nil
	}
	// Readable (or shut down): recvmmsg returns at once.
	return c.recv(pkts, ctr)
}

// pause waits d (coalescing: see coalesce.go) in a raw nanosleep: like
// recv, the shard keeps its P, and no socket waiter is registered, so the
// senders pay no wake-up for the datagrams that arrive meanwhile. A signal
// (the runtime's preemption) ends it early, which only shortens one pause.
func (c *batchConn) pause(d int64) {
	c.pauseTS = unix.NsecToTimespec(d)
	_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&c.pauseTS)), 0, 0)
}

// setTimerSlack sets the calling thread's timer slack (PR_SET_TIMERSLACK):
// the kernel may end a timed wait up to this much late, 50 µs by default,
// which a pause of a few hundred µs must not gain on top of its budget.
func setTimerSlack(d time.Duration) {
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d), 0, 0, 0)
}

// wake makes the eventfd readable, which ends a sleep in progress or the
// next one. Any number of wakes before the sleep ends count as one.
func (c *batchConn) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	if !c.efdClosed {
		_, _ = unix.Write(c.efd, one[:])
	}
}

// rxqOverflow finds the SO_RXQ_OVFL count in one message's control data.
// The kernel adds it only once the socket has dropped something.
func rxqOverflow(oob []byte, controllen uint64) (uint32, bool) {
	if controllen < uint64(unix.CmsgLen(4)) || len(oob) < unix.CmsgLen(4) {
		return 0, false
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SO_RXQ_OVFL {
		return 0, false
	}
	return *(*uint32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])), true
}

func (c *batchConn) send(q *SendQueue, ctr *counters) {
	// Fill the message array; drop (and count) destinations the socket's
	// family cannot reach, keeping the rest in order.
	j := 0
	var bad uint64
	for i := range q.n {
		p := q.pkts[i]
		nl, ok := toSockaddr(&c.snames[j], c.family, q.dsts[i])
		if !ok {
			bad++
			continue
		}
		c.smsgs[j].Hdr.Namelen = nl
		c.siovs[j].Base = unsafe.SliceData(p)
		c.siovs[j].SetLen(len(p))
		q.pkts[j] = p
		j++
	}
	if bad != 0 {
		ctr.txBadAddr.Add(bad)
	}
	ctr.addSend(flushBatch(q.pkts, j, c.sendRange, c.waitWritable))
}

func (c *batchConn) sendmmsg(from, to int) (int, syscall.Errno) {
	r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(c.fd),
		uintptr(unsafe.Pointer(&c.smsgs[from])), uintptr(to-from), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), 0
}

// shutdown: shutdown(SHUT_RD) on a UDP socket wakes a blocked recvmmsg,
// which then returns 0 datagrams, and makes the socket readable for ppoll
// for good; without it a busy shard would still notice the close within
// TickInterval.
func (c *batchConn) shutdown() { _ = unix.Shutdown(c.fd, unix.SHUT_RD) }

func (c *batchConn) close() error {
	c.wakeMu.Lock()
	c.efdClosed = true
	_ = unix.Close(c.efd)
	c.wakeMu.Unlock()
	return unix.Close(c.fd)
}

func fromSockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// toSockaddr writes ap into sa for a socket of the given family and returns
// the name length. IPv4 destinations on an IPv6 socket become IPv4-mapped.
func toSockaddr(sa *unix.RawSockaddrInet6, family int, ap netip.AddrPort) (uint32, bool) {
	a := ap.Addr()
	if !a.IsValid() || ap.Port() == 0 {
		return 0, false
	}
	port := ap.Port()
	if family == unix.AF_INET {
		if !a.Unmap().Is4() {
			return 0, false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa4.Addr = a.Unmap().As4()
		sa4.Zero = [8]uint8{}
		return unix.SizeofSockaddrInet4, true
	}
	sa.Family = unix.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.Flowinfo = 0
	sa.Addr = a.As16()
	sa.Scope_id = 0
	return unix.SizeofSockaddrInet6, true
}

// openBatch binds cfg.Shards sockets to cfg.Addr with SO_REUSEPORT, in shard
// order (the reuseport group's socket index is the shard), and attaches the
// steering program unless disabled.
func openBatch(cfg *Config, log *slog.Logger) (conns []shardConn, local netip.AddrPort, steering bool, err error) {
	ba, _ := parseBindAddr(cfg.Addr)
	family, sa, err := bindSockaddr(ba)
	if err != nil {
		return nil, local, false, err
	}
	fds := make([]int, 0, cfg.Shards)
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}()
	for i := range cfg.Shards {
		fd, err := newSocket(family, cfg, log, i == 0)
		if err != nil {
			return nil, local, false, err
		}
		fds = append(fds, fd)
		if err := unix.Bind(fd, sa); err != nil {
			return nil, local, false, fmt.Errorf("netio: bind %s (shard %d): %w", cfg.Addr, i, err)
		}
		if i == 0 {
			// With port 0 the first bind picks the port; the others join it.
			got, err := unix.Getsockname(fd)
			if err != nil {
				return nil, local, false, fmt.Errorf("netio: getsockname: %w", err)
			}
			local = sockaddrAddrPort(got)
			switch s := sa.(type) {
			case *unix.SockaddrInet4:
				s.Port = int(local.Port())
			case *unix.SockaddrInet6:
				s.Port = int(local.Port())
			}
		}
	}
	if !cfg.NoSteering && cfg.Shards > 1 {
		if err := attachSteering(fds[0], uint32(cfg.Shards)); err != nil {
			log.Warn("SSRC steering refused by the kernel; shards are chosen by 4-tuple hash, so one SSRC may move between shards when its address changes",
				"err", err)
		} else {
			steering = true
		}
	}
	for _, fd := range fds {
		c, err := newBatchConn(fd, family, cfg)
		if err != nil {
			for _, c := range conns {
				unix.Close(c.(*batchConn).efd)
			}
			return nil, local, false, err
		}
		conns = append(conns, c)
	}
	return conns, local, steering, nil
}

// bindSockaddr picks the socket family for the bind address: an empty host
// is IPv6 dual stack when the host has IPv6, else IPv4.
func bindSockaddr(ba bindAddr) (int, unix.Sockaddr, error) {
	if !ba.ip.IsValid() {
		if fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
			unix.Close(fd)
			return unix.AF_INET6, &unix.SockaddrInet6{Port: int(ba.port)}, nil
		}
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(ba.port)}, nil
	}
	if ba.ip.Is4() || ba.ip.Is4In6() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(ba.port), Addr: ba.ip.Unmap().As4()}, nil
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Port: int(ba.port), Addr: ba.ip.As16()}, nil
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(s.Addr), uint16(s.Port))
	}
	return netip.AddrPort{}
}

// newSocket makes one shard's blocking UDP socket with its options set.
// The first shard logs buffer sizes the kernel would not grant.
func newSocket(family int, cfg *Config, log *slog.Logger, first bool) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netio: socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("netio: %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fail("SO_REUSEPORT", err)
	}
	if family == unix.AF_INET6 {
		// Dual stack for a wildcard bind; for a specific IPv6 address the
		// option makes no difference.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
	}
	tv := unix.NsecToTimeval(int64(cfg.TickInterval))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	// Best effort from here: the server works without these, only less well.
	// SO_RXQ_OVFL feeds the KernelDrops counter.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	// IPv4 datagrams go out with DF set and IP ID 0 (RFC 6864's atomic
	// datagrams) instead of the kernel's default for UDP, which also sets
	// DF within the route's MTU but marks every datagram locally
	// fragmentable and so draws its IP ID from the shared hashed generator
	// (__ip_select_ident: ~3 % of the server's time at 70 k packets/s in,
	// perf). PROBE ignores a learned path MTU, so a send never fails with
	// EMSGSIZE mid-batch; voice datagrams are far below any path's MTU.
	// On a dual-stack socket it applies to the IPv4 peers.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
	rcv := setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, cfg.RecvBuffer)
	snd := setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, cfg.SendBuffer)
	if first && (rcv < cfg.RecvBuffer || snd < cfg.SendBuffer) {
		log.Warn("socket buffers smaller than asked; raise net.core.rmem_max/wmem_max or grant CAP_NET_ADMIN to absorb bursts",
			"recv_asked", cfg.RecvBuffer, "recv_got", rcv, "send_asked", cfg.SendBuffer, "send_got", snd)
	}
	return fd, nil
}

// setBuffer tries the FORCE option (needs CAP_NET_ADMIN, ignores the sysctl
// cap), then the plain one, and returns the usable size the kernel reports
// (it doubles the value asked for bookkeeping; half of it holds data).
func setBuffer(fd, force, plain, size int) int {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, plain)
	if err != nil {
		return 0
	}
	return got / 2
}

func attachSteering(fd int, n uint32) error {
	raw, err := bpf.Assemble(steerProgram(n))
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog); err != nil {
		return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", err)
	}
	return nil
}

var _ shardConn = (*batchConn)(nil)
