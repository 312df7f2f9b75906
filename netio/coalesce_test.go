package netio

import (
	"encoding/binary"
	"testing"
	"time"
)

const us = int64(time.Microsecond)

// TestCoalescerPolicy drives the pause decision with times passed in.
func TestCoalescerPolicy(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		c := newCoalescer(0, 64)
		for i := int64(1); i <= 100; i++ {
			c.received(i*10*us, 1)
			if d := c.pause(i*10*us+us, 1); d != 0 {
				t.Fatalf("off: pause %d", d)
			}
		}
	})
	// 1 datagram every 10 µs, received one at a time: after the first
	// two receives the gap is known and small batches pause.
	c := newCoalescer(300*time.Microsecond, 64)
	if d := c.pause(0, 0); d != 0 {
		t.Fatalf("no estimate yet: pause %d", d)
	}
	c.received(100*us, 1)
	if d := c.pause(105*us, 1); d != 0 {
		t.Fatalf("one receive, no gap yet: pause %d", d)
	}
	c.received(110*us, 1)
	if c.gap != 10*us {
		t.Fatalf("gap %d, want 10 µs", c.gap)
	}
	// Target 16 datagrams = 160 µs after the receive, of which the turn
	// took 5 µs.
	if d := c.pause(115*us, 1); d != 155*us {
		t.Fatalf("pause %d, want 155 µs", d)
	}
	// A batch at the target (or larger) needs no pause.
	if d := c.pause(115*us, 16); d != 0 {
		t.Fatalf("full batch: pause %d", d)
	}
	// An empty receive (timeout, wake-up) never pauses and keeps the
	// estimate.
	c.received(200*us, 0)
	if d := c.pause(201*us, 0); d != 0 || c.gap != 10*us {
		t.Fatalf("empty receive: pause %d gap %d", d, c.gap)
	}
	// A turn that took most of the wait already: no pause under the
	// minimum.
	if d := c.pause(110*us+150*us, 1); d != 0 {
		t.Fatalf("late turn: pause %d", d)
	}

	// The budget bounds the pause: 1 datagram every 50 µs, target 16
	// = 800 µs, budget 300 µs.
	c = newCoalescer(300*time.Microsecond, 64)
	c.received(1000*us, 1)
	c.received(1050*us, 1)
	if d := c.pause(1050*us, 1); d != 300*us {
		t.Fatalf("pause %d, want the budget (300 µs)", d)
	}

	// A low rate (fewer than coalesceMinExpected datagrams within the
	// budget) never pauses, and the moving average moves to it.
	c = newCoalescer(300*time.Microsecond, 64)
	now := int64(0)
	for range 50 {
		now += 100 * us // 3 per budget
		c.received(now, 1)
		if d := c.pause(now+us, 1); d != 0 {
			t.Fatalf("low rate: pause %d (gap %d)", d, c.gap)
		}
	}
	// The rate rises: 1 every 20 µs. Within a few dozen receives the
	// average follows and the shard pauses.
	paused := false
	for range 64 {
		now += 20 * us
		c.received(now, 1)
		paused = paused || c.pause(now+us, 1) != 0
	}
	if !paused || c.gap > 25*us {
		t.Fatalf("high rate not followed: paused %v gap %d", paused, c.gap)
	}
	// A batch size below the target caps the target.
	if c := newCoalescer(time.Millisecond, 4); c.target != 4 {
		t.Fatalf("target %d with batch size 4", c.target)
	}
}

// TestCoalescingGathersBatches sends a steady stream of small bursts on
// loopback to a shard with coalescing on and checks that it paused, that
// its batches grew beyond the bursts, and that every datagram arrived. On a
// loaded machine (or with -race) the shard may fall behind the stream and
// get full batches without pausing, which says nothing about coalescing:
// the stream is then sent again, up to 5 times.
func TestCoalescingGathersBatches(t *testing.T) {
	if !haveBatchIO {
		t.Skip("coalescing needs Linux batched I/O")
	}
	ts := startServer(t, Config{Shards: 1, CoalesceBudget: 2 * time.Millisecond}, Options{}, nil)
	c := client(t, "udp4")
	to := ts.LocalAddr()
	pkt := rtpPacket(1, 1, 100)
	const bursts, per = 300, 2
	for try := 1; ; try++ {
		before := ts.Stats()
		// 2 datagrams every 100 µs (20 kpps), spin-paced; 30 ms unless
		// the sender is descheduled.
		start := time.Now()
		for i := range bursts {
			for j := range per {
				binary.BigEndian.PutUint16(pkt[2:], uint16(i*per+j))
				send(t, c, to, pkt)
			}
			for time.Since(start) < time.Duration(i+1)*100*time.Microsecond {
			}
		}
		evs := ts.collect(t, bursts*per)
		maxBatch := 0
		for _, e := range evs {
			maxBatch = max(maxBatch, e.batch)
		}
		st := ts.Stats()
		pauses, batches := st.CoalescePauses-before.CoalescePauses, st.RxBatches-before.RxBatches
		t.Logf("try %d: %d datagrams in %d batches (largest %d), %d pauses, sent in %v",
			try, st.RxPackets-before.RxPackets, batches, maxBatch, pauses, time.Since(start).Round(time.Millisecond))
		if pauses > 0 && maxBatch > per {
			return
		}
		if try == 5 {
			t.Fatal("no coalescing pause at 20 kpps with a 2 ms budget in 5 tries")
		}
	}
}

// TestCoalescingIdle: a shard with coalescing on but no traffic never
// pauses, and one datagram after a quiet time is not held back.
func TestCoalescingIdle(t *testing.T) {
	ts := startServer(t, Config{Shards: 1, CoalesceBudget: 2 * time.Millisecond, TickInterval: time.Millisecond}, Options{}, nil)
	c := client(t, "udp4")
	deadline := time.Now().Add(5 * time.Second)
	for ts.Stats().Ticks < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	send(t, c, ts.LocalAddr(), rtpPacket(1, 1, 100))
	ts.collect(t, 1)
	if p := ts.Stats().CoalescePauses; p != 0 {
		t.Fatalf("%d pauses without traffic", p)
	}
}
