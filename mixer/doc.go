// Package mixer decides what each listener of a session hears in forward
// mode: which speakers are forwarded (Selector), which listener may hear
// which speaker (Hears: server mutes, a listener's own mute list,
// channels), and how a listener's sequence numbers stay contiguous when
// packets are withheld (SeqRewriter).
//
// Everything here is pure and single-threaded: a session's state is owned
// by the shard that runs it, time is passed in (int64 nanoseconds, any
// monotonic origin, always positive: 0 stands for "never"), and the per-packet methods do not allocate once a
// session's speakers are known.
package mixer
