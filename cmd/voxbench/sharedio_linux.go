//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoAvailable: this build can send UDP GSO messages and receive with UDP
// GRO (the kernel may still refuse; see errNoGSO).
const gsoAvailable = true

// errNoGSO: the kernel refused UDP_SEGMENT; send one datagram per write.
var errNoGSO = errors.New("UDP GSO not supported")

// gsoConn sends UDP GSO messages (one sendmsg with a UDP_SEGMENT control
// message) on a connected socket.
type gsoConn struct {
	rc  syscall.RawConn
	oob []byte
}

func newGSOConn(c sharedConn) *gsoConn {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	return &gsoConn{rc: rc, oob: oob}
}

// writeSegments sends b as datagrams of seg bytes (the last may be
// shorter) in one system call.
func (g *gsoConn) writeSegments(b []byte, seg int) error {
	if g == nil {
		return errNoGSO
	}
	binary.NativeEndian.PutUint16(g.oob[unix.CmsgLen(0):], uint16(seg))
	var werr error
	err := g.rc.Write(func(fd uintptr) bool {
		_, werr = unix.SendmsgN(int(fd), b, g.oob, nil, 0)
		return werr != unix.EAGAIN
	})
	if err == nil {
		err = werr
	}
	switch {
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOPROTOOPT), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EIO):
		return errNoGSO
	}
	return err
}

// batchReader receives up to n datagrams per recvmmsg, with UDP GRO when
// the kernel has it (a message may then hold several datagrams of the
// segment size the kernel reports) and the kernel's receive timestamp of
// each message (SO_TIMESTAMPNS).
type batchReader struct {
	rc   syscall.RawConn
	msgs []unix.Mmsghdr
	iov  []unix.Iovec
	bufs [][]byte
	oobs [][]byte
	gro  bool
	ts   bool
}

func newBatchReader(c sharedConn, n, size int) *batchReader {
	r := &batchReader{msgs: make([]unix.Mmsghdr, n), iov: make([]unix.Iovec, n), bufs: make([][]byte, n), oobs: make([][]byte, n)}
	rc, err := c.SyscallConn()
	if err != nil {
		return r
	}
	r.rc = rc
	rc.Control(func(fd uintptr) {
		r.gro = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1) == nil
		r.ts = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
	})
	for i := range r.msgs {
		r.bufs[i] = make([]byte, size)
		r.oobs[i] = make([]byte, unix.CmsgSpace(4)+unix.CmsgSpace(16))
		r.iov[i].Base = &r.bufs[i][0]
		r.iov[i].SetLen(size)
		h := &r.msgs[i].Hdr
		h.Iov = &r.iov[i]
		h.SetIovlen(1)
	}
	return r
}

// read blocks until at least one datagram is there and returns how many
// messages arrived.
func (r *batchReader) read() (int, error) { return r.recv(true) }

// poll returns the messages already queued (0 and no error if none).
func (r *batchReader) poll() (int, error) { return r.recv(false) }

func (r *batchReader) recv(wait bool) (int, error) {
	if r.rc == nil {
		return 0, net.ErrClosed
	}
	for i := range r.msgs {
		h := &r.msgs[i].Hdr
		h.Control = &r.oobs[i][0]
		h.SetControllen(len(r.oobs[i]))
		h.Flags = 0
	}
	var n int
	var rerr error
	err := r.rc.Read(func(fd uintptr) bool {
		x, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(len(r.msgs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return !wait
		}
		if e != 0 {
			rerr = e
			return true
		}
		n = int(x)
		return true
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// message returns message i of the last read, the GRO segment size (0 if
// the message is one datagram), whether the kernel truncated it, and the
// kernel's receive time (Unix ns, CLOCK_REALTIME; 0 if unknown).
func (r *batchReader) message(i int) (msg []byte, seg int, truncated bool, rxNanos int64) {
	m := &r.msgs[i]
	if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, 0, true, 0
	}
	msg = r.bufs[i][:m.Len]
	if r.gro || r.ts {
		oob := r.oobs[i][:m.Hdr.Controllen]
		for len(oob) >= unix.CmsgLen(0) {
			h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
			l := int(h.Len)
			if l < unix.CmsgLen(0) || l > len(oob) {
				break
			}
			if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(2) {
				d := oob[unix.CmsgLen(0):l]
				if len(d) >= 4 {
					seg = int(binary.NativeEndian.Uint32(d))
				} else {
					seg = int(binary.NativeEndian.Uint16(d))
				}
			}
			if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.CmsgLen(16) {
				d := oob[unix.CmsgLen(0):l]
				rxNanos = int64(binary.NativeEndian.Uint64(d))*1e9 + int64(binary.NativeEndian.Uint64(d[8:]))
			}
			oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
		}
	}
	return msg, seg, false, rxNanos
}

// dialShared opens one of the shared transport's sockets, connected to
// raddr. With polled (the receivers drain every socket with non-blocking
// reads, --rx-poll), it is a plain socket outside the Go runtime's
// netpoller: a socket registered with epoll has a waiter on its wait
// queue, so every datagram the server sends to it makes the server's
// system call run the wake-up path (sock_def_readable, ep_poll_callback),
// measured at 15-20 % of voxd's CPU on this VM at 4-20 kpps (perf,
// docs/perf/density.md). Real clients are on other machines; the C
// reference's sink does not register its sockets either.
func dialShared(raddr *net.UDPAddr, polled bool) (sharedConn, error) {
	if !polled {
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			return nil, err
		}
		_ = c.SetReadBuffer(8 << 20)
		_ = c.SetWriteBuffer(8 << 20)
		return c, nil
	}
	ap := raddr.AddrPort()
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	if !ap.Addr().Unmap().Is4() {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect %s: %w", raddr, err)
	}
	return &fdConn{fd: fd}, nil
}

// fdConn is a blocking UDP socket used through raw system calls, outside
// the netpoller (see dialShared). Its reads are only the receivers'
// non-blocking polls (through SyscallConn); writes block while the send
// buffer is full.
type fdConn struct {
	fd     int
	mu     sync.RWMutex // Close waits for calls in progress: the fd number is not reused under them
	closed bool
}

// fdRaw is fdConn as a syscall.RawConn.
type fdRaw fdConn

func (c *fdConn) SyscallConn() (syscall.RawConn, error) { return (*fdRaw)(c), nil }

// Read is not used: the receivers poll through SyscallConn.
func (c *fdConn) Read([]byte) (int, error) { return 0, errors.New("fdConn: use SyscallConn") }

func (c *fdConn) Write(b []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return unix.Write(c.fd, b)
}

func (c *fdConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	return unix.Close(c.fd)
}

func (r *fdRaw) Control(f func(fd uintptr)) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return net.ErrClosed
	}
	f(uintptr(r.fd))
	return nil
}

// Read runs f once: the receivers only poll (MSG_DONTWAIT), and a poll is
// done whether or not it read anything.
func (r *fdRaw) Read(f func(fd uintptr) bool) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return net.ErrClosed
	}
	f(uintptr(r.fd))
	return nil
}

func (r *fdRaw) Write(f func(fd uintptr) bool) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return net.ErrClosed
	}
	for !f(uintptr(r.fd)) { // EAGAIN: not on a blocking socket; never spin on it
		runtime.Gosched()
	}
	return nil
}

// preciseWaitMax: the sender's waits up to this long use preciseSleep.
const preciseWaitMax = 2 * time.Millisecond

// preciseSlack is the sender thread's timer slack (the kernel's default,
// 50 µs, is as long as the wait between two frames).
const preciseSlack = 5 * time.Microsecond

// preciseSleep sleeps d in nanosleep(2), a system call the runtime knows
// of (the P goes to the receiver meanwhile), on time within the timer slack.
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}

// setTimerSlack sets the calling thread's timer slack.
func setTimerSlack(d time.Duration) { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d), 0, 0, 0) }

// socketDrops returns the datagrams the kernel dropped at c's receive queue
// since it was opened (SO_MEMINFO's SK_MEMINFO_DROPS: the queue was full
// because the receiver did not keep up); ok is false if unknown.
func socketDrops(c sharedConn) (drops uint64, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var mem [unix.SK_MEMINFO_VARS]uint32
	rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(mem))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&l)), 0)
		ok = e == 0 && l >= (unix.SK_MEMINFO_DROPS+1)*4
	})
	return uint64(mem[unix.SK_MEMINFO_DROPS]), ok
}
