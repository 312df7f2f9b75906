package netio

import "sync/atomic"

// Stats is a snapshot of one shard's counters. Every field only grows,
// except KernelDrops, which is the kernel's own running count for the socket.
type Stats struct {
	RxPackets uint64 // datagrams handed to the handler
	RxBytes   uint64
	RxBatches uint64 // recvmmsg calls that returned datagrams
	TxPackets uint64
	TxBytes   uint64
	TxCalls   uint64 // sendmmsg calls

	DropTruncated uint64 // received datagrams longer than MaxDatagram
	KernelDrops   uint64 // SO_RXQ_OVFL: datagrams the kernel dropped for a full socket buffer
	RecvErrors    uint64 // recvmmsg failures other than timeouts

	TxDropFull    uint64 // datagrams dropped because the send buffer stayed full
	TxRefused     uint64 // ECONNREFUSED (ICMP port unreachable)
	TxUnreachable uint64 // EHOSTUNREACH, ENETUNREACH
	TxErrors      uint64 // other per-datagram send errors
	TxBadAddr     uint64 // destination family the socket cannot reach

	Ticks         uint64 // Handler.Tick calls
	Sleeps        uint64 // idle sleeps past the tick interval (TickScheduler handlers only)
	MailboxRuns   uint64 // control messages run
	HandlerPanics uint64 // handler calls that panicked (batch lost, shard kept)

	CoalescePauses uint64 // pauses before a receive for datagrams to accumulate (Config.CoalesceBudget)
}

// Add returns the field-by-field sum of s and o (KernelDrops added too, as
// the counts belong to different sockets).
func (s Stats) Add(o Stats) Stats {
	s.RxPackets += o.RxPackets
	s.RxBytes += o.RxBytes
	s.RxBatches += o.RxBatches
	s.TxPackets += o.TxPackets
	s.TxBytes += o.TxBytes
	s.TxCalls += o.TxCalls
	s.DropTruncated += o.DropTruncated
	s.KernelDrops += o.KernelDrops
	s.RecvErrors += o.RecvErrors
	s.TxDropFull += o.TxDropFull
	s.TxRefused += o.TxRefused
	s.TxUnreachable += o.TxUnreachable
	s.TxErrors += o.TxErrors
	s.TxBadAddr += o.TxBadAddr
	s.Ticks += o.Ticks
	s.Sleeps += o.Sleeps
	s.MailboxRuns += o.MailboxRuns
	s.HandlerPanics += o.HandlerPanics
	s.CoalescePauses += o.CoalescePauses
	return s
}

// counters are a shard's live counters: written only by the shard's
// goroutine (atomically, once per batch, not per packet) and read by anyone.
// Padded so two shards never share a cache line.
type counters struct {
	_                                         [64]byte
	rxPackets, rxBytes, rxBatches             atomic.Uint64
	txPackets, txBytes, txCalls               atomic.Uint64
	dropTruncated, kernelDrops, recvErrors    atomic.Uint64
	txDropFull, txRefused, txUnreach, txErrs  atomic.Uint64
	txBadAddr                                 atomic.Uint64
	ticks, sleeps, mailboxRuns, handlerPanics atomic.Uint64
	coalescePauses                            atomic.Uint64
	lastLoop                                  atomic.Int64 // Now() at the end of the last loop turn
	_                                         [64]byte
}

func (c *counters) addSend(st sendStats) {
	if st.packets != 0 {
		c.txPackets.Add(st.packets)
		c.txBytes.Add(st.bytes)
	}
	c.txCalls.Add(st.calls)
	if st.dropFull|st.refused|st.unreach|st.other != 0 {
		c.txDropFull.Add(st.dropFull)
		c.txRefused.Add(st.refused)
		c.txUnreach.Add(st.unreach)
		c.txErrs.Add(st.other)
	}
}

func (c *counters) snapshot() Stats {
	return Stats{
		RxPackets:     c.rxPackets.Load(),
		RxBytes:       c.rxBytes.Load(),
		RxBatches:     c.rxBatches.Load(),
		TxPackets:     c.txPackets.Load(),
		TxBytes:       c.txBytes.Load(),
		TxCalls:       c.txCalls.Load(),
		DropTruncated: c.dropTruncated.Load(),
		KernelDrops:   c.kernelDrops.Load(),
		RecvErrors:    c.recvErrors.Load(),
		TxDropFull:    c.txDropFull.Load(),
		TxRefused:     c.txRefused.Load(),
		TxUnreachable: c.txUnreach.Load(),
		TxErrors:      c.txErrs.Load(),
		TxBadAddr:     c.txBadAddr.Load(),
		Ticks:         c.ticks.Load(),
		Sleeps:        c.sleeps.Load(),
		MailboxRuns:   c.mailboxRuns.Load(),
		HandlerPanics: c.handlerPanics.Load(),

		CoalescePauses: c.coalescePauses.Load(),
	}
}
