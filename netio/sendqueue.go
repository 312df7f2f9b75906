package netio

import (
	"net/netip"
	"syscall"
)

// SendQueue collects outgoing datagrams of one shard so they leave in as few
// system calls as possible (sendmmsg on Linux; the portable shard writes
// them one by one). It is owned by the shard's goroutine.
type SendQueue struct {
	pkts  [][]byte         // queued datagrams; may alias slots or other buffers
	dsts  []netip.AddrPort // destination of each queued datagram
	slots [][]byte         // per-position scratch storage, MaxDatagram bytes each
	n     int
	flush func(q *SendQueue) // sends pkts[:n], then sets n = 0
}

func newSendQueue(capacity, maxDatagram int, flush func(*SendQueue)) *SendQueue {
	q := &SendQueue{
		pkts:  make([][]byte, capacity),
		dsts:  make([]netip.AddrPort, capacity),
		slots: make([][]byte, capacity),
		flush: flush,
	}
	arena := make([]byte, capacity*maxDatagram)
	for i := range q.slots {
		q.slots[i] = arena[i*maxDatagram : (i+1)*maxDatagram : (i+1)*maxDatagram]
	}
	return q
}

// Buffer returns scratch storage (Config.MaxDatagram bytes) for building the
// next datagram, which is then queued with Send(buf[:n], dst). The storage
// belongs to the next queue position: it stays valid until the queue is
// flushed, and calling Buffer twice without a Send returns the same storage.
func (q *SendQueue) Buffer() []byte {
	if q.n == len(q.pkts) {
		q.flush(q)
	}
	return q.slots[q.n]
}

// Send queues p for dst. p must stay unchanged until the queue is flushed:
// storage from Buffer, a received Packet's Data, or memory the handler owns.
func (q *SendQueue) Send(p []byte, dst netip.AddrPort) {
	if q.n == len(q.pkts) {
		q.flush(q)
	}
	q.pkts[q.n] = p
	q.dsts[q.n] = dst
	q.n++
}

// Len is the number of datagrams queued and not yet flushed.
func (q *SendQueue) Len() int { return q.n }

// Cap is the queue's capacity; a Send beyond it flushes first.
func (q *SendQueue) Cap() int { return len(q.pkts) }

// sendResult is what one sendmmsg-like call did: sent datagrams (from the
// start of the slice it was given) and the errno when sent is 0.
type sendFunc func(from, to int) (sent int, errno syscall.Errno)

// sendStats are the outcomes of a flush, added to the shard counters.
type sendStats struct {
	packets, bytes, calls             uint64
	dropFull, refused, unreach, other uint64
}

// Retry policy when the socket's send buffer is full (EAGAIN/ENOBUFS): wait
// for it to drain a little, a few times, then drop what is left of the batch
// and count it rather than stall the shard's receive side.
const sendFullRetries = 3

// flushBatch sends pkts[0:n] with send, handling partial sends, a full send
// buffer and per-destination errors without losing the rest of the batch.
// waitWritable is called (with a short timeout inside) before retrying after
// EAGAIN/ENOBUFS. It is pure apart from its function arguments, for tests.
func flushBatch(pkts [][]byte, n int, send sendFunc, waitWritable func()) sendStats {
	var st sendStats
	i, full, refusedRetry := 0, 0, false
	for i < n {
		sent, errno := send(i, n)
		st.calls++
		if errno == 0 && sent > 0 {
			for _, p := range pkts[i : i+sent] {
				st.bytes += uint64(len(p))
			}
			st.packets += uint64(sent)
			i += sent
			full, refusedRetry = 0, false
			continue
		}
		switch errno {
		case syscall.EINTR:
			continue
		case 0, syscall.EAGAIN, syscall.ENOBUFS:
			if full < sendFullRetries {
				full++
				waitWritable()
				continue
			}
			st.dropFull += uint64(n - i)
			return st
		case syscall.ECONNREFUSED:
			// Usually an ICMP error left over from an earlier datagram,
			// reported on this one: the error is consumed, try once more.
			if !refusedRetry {
				refusedRetry = true
				continue
			}
			st.refused++
		case syscall.EHOSTUNREACH, syscall.ENETUNREACH:
			st.unreach++
		default: // EMSGSIZE, EINVAL, EPERM (firewall), EAFNOSUPPORT...
			st.other++
		}
		// The error belongs to datagram i: skip it, keep the rest.
		i++
		full, refusedRetry = 0, false
	}
	return st
}

// NewDetachedQueue returns a SendQueue bound to no socket: whenever it is
// flushed (when full, or by Flush) send receives the queued datagrams and
// their destinations, which are valid only during the call. It lets a
// Handler be driven by tests and benchmarks without the kernel.
func NewDetachedQueue(capacity, maxDatagram int, send func(pkts [][]byte, dsts []netip.AddrPort)) *SendQueue {
	return newSendQueue(capacity, maxDatagram, func(q *SendQueue) {
		send(q.pkts[:q.n], q.dsts[:q.n])
		clear(q.pkts[:q.n])
		q.n = 0
	})
}

// Flush sends what is queued now. Handlers rarely need it: the shard
// flushes after every batch and tick.
func (q *SendQueue) Flush() {
	if q.n > 0 {
		q.flush(q)
	}
}
