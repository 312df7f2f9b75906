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
// by running an engine method on the shard (Manager.onShard, a mailbox
// message), and read it
// the same way. The Manager's own books (who is in which session, counts,
// reservations) are guarded by its mutex, which the packet path never takes.
//
// The control plane (Manager files) reaches shard state only through
// Manager.onShard, which runs an engine method on the owning shard; the
// Manager's mutex is never held across it. Admissions are bookings with a
// state (books.go); docs/architecture.md draws the boundary.
//
// One RTP packet on its shard:
//
//	classify (RTP/RTCP/other) -> SSRC -> participant (unknown: drop)
//	-> from an address other than the latched one? spend a probe token (none left: drop, no crypto)
//	-> SRTP authenticate + decrypt in place, replay window (fail: drop, nothing changed)
//	-> latch the source address (count a rebind), update stats, audio level
//	-> a room with a Mixer: push the payload into the mix (a mix session stops here)
//	-> speaker selection of its channel (server mute: never selected)
//	-> for every other member: withheld by policy (not selected, its mutes,
//	   channels), no address yet, hears a mix instead, or: rewrite the
//	   sequence number and encrypt with its outbound context into the send
//	   queue (engine.sendRTP)
package sessionmgr
