// Package netio moves batches of UDP datagrams between the kernel and a
// handler as cheaply as the kernel allows.
//
// A Server binds N sockets ("shards") to one address and port with
// SO_REUSEPORT. Each shard is served by exactly one goroutine that owns the
// socket, its preallocated receive buffers, its send queue and its Handler:
// nothing a shard touches per packet is shared, so the packet path has no
// locks and no allocations.
//
// On Linux a shard blocks in recvmmsg(2) on its own OS thread (like the C
// reference forwarder: no netpoller round trip when the queue runs empty)
// and flushes its SendQueue with sendmmsg(2). A classic-BPF reuseport
// program steers every RTP/RTCP packet to shard ShardOf(ssrc, N), so all
// packets of one SSRC land on the same shard whatever their source address
// (see steer.go). Elsewhere a portable fallback serves one unbatched socket.
// With Config.CoalesceBudget, a shard that gets small batches at a high
// packet rate pauses briefly before its next receive so that datagrams
// arrive in batches (coalesce.go); never when idle.
//
// Control-plane goroutines never touch shard state directly: they Post a
// function to the shard's mailbox, which the shard runs between batches. A
// shard wakes at least every Config.TickInterval to run its handler's timers
// and its mailbox, even without traffic, unless its handler is a
// TickScheduler: an idle shard then sleeps until its handler's next Tick is
// due, and a datagram, Post or Close wakes it.
//
//	kernel ──recvmmsg──▶ shard k ──Handler.HandleBatch(now, pkts, q)──▶ q
//	                       ▲   └─ mailbox, Handler.Tick between batches
//	kernel ◀──sendmmsg──── q.flush (once per batch, or when q is full)
package netio
