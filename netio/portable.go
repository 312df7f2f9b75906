package netio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// portableConn is the fallback shard: one net.UDPConn, one datagram per
// read, one write per datagram. It is what non-Linux builds use, and what
// Options.Portable selects for comparison.
type portableConn struct {
	uc   *net.UDPConn
	tick time.Duration
	buf  []byte

	// A wake is a read deadline in the past. woken keeps one that comes
	// before a read has set its own deadline from overriding it.
	mu    sync.Mutex
	woken bool
}

func openPortable(cfg *Config) ([]shardConn, netip.AddrPort, error) {
	ba, _ := parseBindAddr(cfg.Addr)
	var la *net.UDPAddr
	if ba.ip.IsValid() {
		la = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ba.ip, ba.port))
	} else {
		la = &net.UDPAddr{Port: int(ba.port)}
	}
	uc, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("netio: listen %s: %w", cfg.Addr, err)
	}
	_ = uc.SetReadBuffer(cfg.RecvBuffer)
	_ = uc.SetWriteBuffer(cfg.SendBuffer)
	c := &portableConn{uc: uc, tick: cfg.TickInterval, buf: make([]byte, cfg.MaxDatagram+1)}
	return []shardConn{c}, uc.LocalAddr().(*net.UDPAddr).AddrPort(), nil
}

func (c *portableConn) recv(pkts []Packet, ctr *counters) (int, error) {
	return c.read(pkts, ctr, c.tick)
}

// sleep is a read with a longer deadline: the goroutine waits in the
// runtime's netpoller either way.
func (c *portableConn) sleep(pkts []Packet, ctr *counters, d time.Duration) (int, error) {
	return c.read(pkts, ctr, d)
}

// read reads one datagram, waiting at most d or until wake.
func (c *portableConn) read(pkts []Packet, ctr *counters, d time.Duration) (int, error) {
	c.mu.Lock()
	if c.woken {
		c.woken = false
		c.mu.Unlock()
		return 0, nil
	}
	err := c.uc.SetReadDeadline(time.Now().Add(d))
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, from, err := c.uc.ReadFromUDPAddrPort(c.buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
			return 0, nil
		}
		return 0, err
	}
	// The buffer is one byte longer than MaxDatagram: filling it means the
	// datagram was longer (and truncated).
	if n > len(c.buf)-1 {
		ctr.dropTruncated.Add(1)
		return 0, nil
	}
	pkts[0] = Packet{Data: c.buf[:n], From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}
	return 1, nil
}

func (c *portableConn) send(q *SendQueue, ctr *counters) {
	var st sendStats
	for i := range q.n {
		st.calls++
		dst := q.dsts[i]
		if !dst.Addr().IsValid() || dst.Port() == 0 {
			ctr.txBadAddr.Add(1)
			continue
		}
		if _, err := c.uc.WriteToUDPAddrPort(q.pkts[i], dst); err != nil {
			st.other++
			continue
		}
		st.packets++
		st.bytes += uint64(len(q.pkts[i]))
	}
	ctr.addSend(st)
}

// pause is never called: the portable shard does not coalesce (one datagram
// per read gains nothing from waiting).
func (c *portableConn) pause(int64) {}

// wake ends a read in progress, or the next one, with a deadline in the
// past: a timeout for the shard, which then runs its mailbox or sees the
// server closing.
func (c *portableConn) wake() {
	c.mu.Lock()
	c.woken = true
	_ = c.uc.SetReadDeadline(time.Now())
	c.mu.Unlock()
}

// shutdown wakes the shard, which sees the server closing, as it does
// after every read.
func (c *portableConn) shutdown() { c.wake() }

func (c *portableConn) close() error { return c.uc.Close() }

var _ shardConn = (*portableConn)(nil)
