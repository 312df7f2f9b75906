package netio

import (
	"net/netip"
	"time"
)

// Packet is one received datagram.
type Packet struct {
	// Data aliases the shard's receive buffer. It is valid until
	// HandleBatch returns; a slice of it may be queued with SendQueue.Send,
	// because the queue is always flushed before the buffer is reused.
	Data []byte
	// From is the sender. IPv4 senders on a dual-stack socket are reported
	// as plain IPv4 addresses, not IPv4-mapped IPv6.
	From netip.AddrPort
}

// Handler processes one shard's traffic. Every method is called on the
// shard's own goroutine, never concurrently, so a Handler owns its state
// without locks. A Handler must not retain pkts or q after a call returns.
type Handler interface {
	// HandleBatch handles a batch of received datagrams. Datagrams to send
	// go into q; q is flushed after HandleBatch returns (or earlier, when
	// it fills up).
	HandleBatch(now int64, pkts []Packet, q *SendQueue)
	// Tick runs the handler's timers. It is called at least every
	// Config.TickInterval, with or without traffic, unless the handler is
	// a TickScheduler; it may be called earlier.
	Tick(now int64, q *SendQueue)
}

// TickScheduler is implemented by a Handler that can say when it next needs
// Tick, so that its shard ticks then instead of only on its regular ticks,
// and can sleep through quiet times instead of waking every TickInterval.
//
// The shard asks NextTick once per turn, after the turn's Tick (if any).
// While datagrams or control messages arrive, it ticks every TickInterval
// as usual and also as soon as a turn finds the time NextTick asked for
// passed (a mixer's 20 ms frames are not held back by up to a tick); when
// that time is less than a tick away and the last receive found the socket
// empty, it waits for it precisely. Once it has been quiet for 20 turns in
// a row (100 ms at the default tick) and the answer is more than a
// TickInterval away, it sleeps until then (at most a second at a time),
// waking at once for a datagram, a Post or Close. Tick may still run
// earlier than NextTick asked, e.g. on a regular tick or when the sleep
// ends.
type TickScheduler interface {
	// NextTick returns the time (on the Now clock) by which the handler
	// next needs Tick, given that no datagram or message arrives first.
	// A time at or before now means "tick as usual";
	// math.MaxInt64 means nothing is due. It is called on the shard's
	// goroutine, like every Handler method, and must not allocate.
	NextTick(now int64) int64
}

// Closer is implemented by a Handler that wants to release resources when
// its shard stops. Close runs on the shard's goroutine, last.
type Closer interface {
	Close()
}

// NewHandler makes the Handler of one shard. It runs on the shard's goroutine
// before the first packet is received, and Listen returns only after every
// shard's NewHandler has returned. The shard tells the handler its limits
// (Shard.MaxDatagram, Shard.NumShards).
type NewHandler func(sh *Shard) Handler

// epoch anchors Now; time.Since reads the monotonic clock only.
var epoch = time.Now()

// Now returns the process's monotonic clock in nanoseconds, the time base
// of every now argument in this package.
func Now() int64 { return int64(time.Since(epoch)) }
