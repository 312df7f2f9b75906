// Package sessionmgr hosts voice sessions: the control-plane Manager
// (sessions, participants, limits, SSRC and key assignment) and, per netio
// shard, the engine that owns the shard's participants and forwards their
// SRTP.
//
// Ownership. Every participant lives on exactly one shard: the one its SSRC
// steers to (netio.ShardOf), which is also the shard of every other member
// of its session. The engine of that shard owns the participant's SRTP
// contexts, replay windows, latched address and statistics; nothing else
// touches them. The Manager's goroutines (admin API) only change shard state
// by posting a message to the shard's mailbox (netio.Shard.Do), and read it
// the same way. The Manager's own books (who is in which session, counts,
// reservations) are guarded by its mutex, which the packet path never takes.
//
// One RTP packet on its shard:
//
//	classify (RTP/RTCP/other) -> SSRC -> participant (unknown: drop)
//	-> from an address other than the latched one? spend a probe token (none left: drop)
//	-> SRTP authenticate + decrypt in place, replay window (fail: drop, nothing changed)
//	-> latch the source address (count a rebind), update stats, audio level
//	-> for every other member with a latched address: encrypt with its
//	   outbound context into the send queue
package sessionmgr
