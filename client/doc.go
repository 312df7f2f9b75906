// Package client is what vox's callers do, in Go: the routing service's
// side of the session API (API: create sessions, admit and remove
// participants, read the pod's status) and a game client's side of the
// media plane (Participant: Opus over SRTP/UDP to the address an
// admission names, SRTCP receiver/sender reports, BYE, reconnect notices,
// NAT rebinding). vox's end-to-end tests and the voxbench load tool are
// built on it.
//
// # Media path
//
// A Participant owns one connected UDP socket and two one-way SRTP
// contexts: a media.Outbound with the admission's client-to-server keys,
// used by Send, SendWithLevel, SendRTCP and Leave under a mutex, and a
// media.Inbound with the server-to-client keys, owned by the participant's
// reader goroutine. One Inbound serves every SSRC the server sends: the
// other members' packets, forwarded with their own SSRCs, and the server's
// own RTCP (Admission.ServerSSRC).
//
// Sending a packet builds the RTP header and payload in a reused buffer,
// encrypts it in place and writes it: no allocation per packet. The reader
// decrypts in place in its own reused buffer and calls the handlers of
// Options on its goroutine with slices that alias that buffer, valid only
// during the call: no allocation per packet either, except inside
// pion/srtp for packets that fail authentication (see package media).
//
// Nothing counts before it authenticates: a datagram that fails SRTP or
// SRTCP authentication, or replays an index already received, is dropped
// and counted (Stats.AuthFailures, Stats.Replays) and reaches no handler,
// so a forged or replayed reconnect notice is ignored.
package client
