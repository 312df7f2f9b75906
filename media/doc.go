// Package media holds the zero-allocation packet primitives that vox's
// receive and forward path is built on: RTP/RTCP/STUN/DTLS demultiplexing
// (RFC 7983, RFC 5761), a strict RTP header parser with RFC 8285 header
// extensions and the RFC 6464 audio level, an RTCP compound iterator with
// builders for the packets vox sends (receiver reports, BYE, the vox
// reconnect notice), RFC 3550 receive statistics, and thin one-way SRTP
// wrappers over github.com/pion/srtp/v3.
//
// # Ownership
//
// Nothing in this package locks. Every stateful type (ReceiveStats,
// Inbound, Outbound, RTCPIter) is owned by exactly one goroutine — in vox,
// the shard goroutine that owns the participant — and must not be used
// from two goroutines at once. The stateless functions (Classify,
// ParseRTPHeader, FindExtension, the Append* builders, ...) may be called
// from anywhere.
//
// # Allocation
//
// Parsers return value types and sub-slices of their input; builders append
// into a caller-provided dst and grow it only when its capacity is too
// small; errors on the per-packet path are the preallocated sentinels of
// errors.go. The tests assert zero allocations per packet with
// testing.AllocsPerRun and the benchmarks report allocs/op. The only
// allocations left on a per-packet path are inside pion/srtp on some
// rejection paths; see srtp.go for the exact list.
package media
