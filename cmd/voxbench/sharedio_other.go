//go:build !linux

package main

import (
	"errors"
	"net"
	"time"
)

// gsoAvailable: UDP GSO and GRO are Linux features; elsewhere the shared
// transport sends and receives one datagram per system call.
const gsoAvailable = false

var (
	errNoGSO  = errors.New("UDP GSO not supported")
	errNoPoll = errors.New("polling receive not supported")
)

type gsoConn struct{}

func newGSOConn(sharedConn) *gsoConn { return nil }

func (*gsoConn) writeSegments([]byte, int) error { return errNoGSO }

// batchReader reads one datagram at a time.
type batchReader struct {
	c   sharedConn
	buf []byte
	n   int
	gro bool // always false: no UDP GRO here (as on Linux, when the kernel refuses it)
}

func newBatchReader(c sharedConn, _, size int) *batchReader {
	return &batchReader{c: c, buf: make([]byte, size)}
}

func (r *batchReader) read() (int, error) {
	n, err := r.c.Read(r.buf)
	if err != nil {
		return 0, err
	}
	r.n = n
	return 1, nil
}

// poll is not available: the receivers block in read.
func (r *batchReader) poll() (int, error) { return 0, errNoPoll }

func (r *batchReader) message(int) ([]byte, int, bool, int64) { return r.buf[:r.n], 0, false, 0 }

// dialShared opens one of the shared transport's sockets (polled or not:
// there is no polling receive here).
func dialShared(raddr *net.UDPAddr, _ bool) (sharedConn, error) {
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(8 << 20)
	_ = c.SetWriteBuffer(8 << 20)
	return c, nil
}

const (
	preciseWaitMax = 2 * time.Millisecond
	preciseSlack   = 0
)

// preciseSleep: time.Sleep elsewhere.
func preciseSleep(d time.Duration) { time.Sleep(d) }

func setTimerSlack(time.Duration) {}

// socketDrops is unknown off Linux.
func socketDrops(sharedConn) (uint64, bool) { return 0, false }
