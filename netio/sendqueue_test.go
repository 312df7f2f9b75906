package netio

import (
	"net/netip"
	"syscall"
	"testing"
)

// fakeSend replays a script of sendmmsg outcomes and records what went out.
type fakeSend struct {
	script []struct {
		max   int // datagrams it accepts this call (if no errno)
		errno syscall.Errno
	}
	calls int
	sent  []int // indexes of datagrams sent
}

func (f *fakeSend) send(from, to int) (int, syscall.Errno) {
	step := f.script[min(f.calls, len(f.script)-1)]
	f.calls++
	if step.errno != 0 {
		return 0, step.errno
	}
	n := min(step.max, to-from)
	for i := from; i < from+n; i++ {
		f.sent = append(f.sent, i)
	}
	return n, 0
}

func TestFlushBatch(t *testing.T) {
	type step = struct {
		max   int
		errno syscall.Errno
	}
	pkts := make([][]byte, 10)
	for i := range pkts {
		pkts[i] = make([]byte, 100+i)
	}
	cases := []struct {
		name     string
		script   []step
		wantSent []int
		want     sendStats
		waits    int
	}{
		{"all at once", []step{{10, 0}}, seq(0, 10),
			sendStats{packets: 10, bytes: 1045, calls: 1}, 0},
		{"partial sends continue", []step{{3, 0}, {3, 0}, {10, 0}}, seq(0, 10),
			sendStats{packets: 10, bytes: 1045, calls: 3}, 0},
		{"EINTR retried", []step{{0, syscall.EINTR}, {10, 0}}, seq(0, 10),
			sendStats{packets: 10, bytes: 1045, calls: 2}, 0},
		{"EAGAIN waits then completes", []step{{4, 0}, {0, syscall.EAGAIN}, {0, syscall.ENOBUFS}, {10, 0}}, seq(0, 10),
			sendStats{packets: 10, bytes: 1045, calls: 4}, 2},
		{"EAGAIN for good drops the rest, counted", []step{{4, 0}, {0, syscall.EAGAIN}}, seq(0, 4),
			sendStats{packets: 4, bytes: 406, calls: 5, dropFull: 6}, 3},
		{"per-destination error skips one datagram", []step{{2, 0}, {0, syscall.EHOSTUNREACH}, {10, 0}},
			append(seq(0, 2), seq(3, 10)...),
			sendStats{packets: 9, bytes: 1045 - 102, calls: 3, unreach: 1}, 0},
		{"ECONNREFUSED retried once (stale ICMP), then sent", []step{{0, syscall.ECONNREFUSED}, {10, 0}}, seq(0, 10),
			sendStats{packets: 10, bytes: 1045, calls: 2}, 0},
		{"ECONNREFUSED twice skips the datagram", []step{{0, syscall.ECONNREFUSED}, {0, syscall.ECONNREFUSED}, {10, 0}}, seq(1, 10),
			sendStats{packets: 9, bytes: 1045 - 100, calls: 3, refused: 1}, 0},
		{"other errors skip one each", []step{{0, syscall.EMSGSIZE}, {0, syscall.EPERM}, {10, 0}}, seq(2, 10),
			sendStats{packets: 8, bytes: 1045 - 201, calls: 3, other: 2}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeSend{script: c.script}
			waits := 0
			got := flushBatch(pkts, len(pkts), f.send, func() { waits++ })
			if got != c.want {
				t.Errorf("stats %+v, want %+v", got, c.want)
			}
			if !equalInts(f.sent, c.wantSent) {
				t.Errorf("sent %v, want %v", f.sent, c.wantSent)
			}
			if waits != c.waits {
				t.Errorf("waits %d, want %d", waits, c.waits)
			}
		})
	}
}

func TestSendQueueFlushesWhenFull(t *testing.T) {
	var flushed []int
	q := newSendQueue(4, 100, func(sq *SendQueue) {
		flushed = append(flushed, sq.n)
		sq.n = 0
	})
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	for i := range 10 {
		b := q.Buffer()
		if len(b) != 100 {
			t.Fatalf("buffer len %d", len(b))
		}
		b[0] = byte(i)
		q.Send(b[:1], dst)
	}
	if !equalInts(flushed, []int{4, 4}) || q.Len() != 2 {
		t.Fatalf("flushed %v, len %d", flushed, q.Len())
	}
	if q.pkts[0][0] != 8 || q.pkts[1][0] != 9 {
		t.Fatalf("queued %v %v", q.pkts[0], q.pkts[1])
	}
	// Buffer storage of different positions never overlaps.
	if &q.slots[0][99] == &q.slots[1][0] || cap(q.slots[0]) != 100 {
		t.Fatal("slots overlap")
	}
}

func seq(a, b int) []int {
	var s []int
	for i := a; i < b; i++ {
		s = append(s, i)
	}
	return s
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDetachedQueue(t *testing.T) {
	var got []string
	q := NewDetachedQueue(2, 64, func(pkts [][]byte, dsts []netip.AddrPort) {
		for i, p := range pkts {
			got = append(got, string(p)+"@"+dsts[i].String())
		}
	})
	dst := netip.MustParseAddrPort("127.0.0.1:5")
	for _, s := range []string{"a", "b", "c"} {
		b := q.Buffer()
		n := copy(b, s)
		q.Send(b[:n], dst)
	}
	if len(got) != 2 || q.Len() != 1 {
		t.Fatalf("before Flush: %v, %d queued", got, q.Len())
	}
	q.Flush()
	q.Flush()
	if len(got) != 3 || got[2] != "c@127.0.0.1:5" || q.Len() != 0 {
		t.Fatalf("after Flush: %v", got)
	}
}
