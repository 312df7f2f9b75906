package client

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/media"
)

// counters are a participant's counters, updated atomically: the first
// group by the senders, the second by the reader goroutine, a cache line
// apart so the two sides do not share one.
type counters struct {
	sent, sentBytes, sentRTCP, sendErrors, rebinds    atomic.Uint64
	moveDrops, moves, readmitFailures, readmitRetries atomic.Uint64

	_ [64]byte

	received, receivedBytes, receivedRTCP, reports  atomic.Uint64
	authFailures, replays, malformed, notMedia      atomic.Uint64
	truncated, readErrors, notices                  atomic.Uint64
	rejectedRTCP, noticesWrongSender, noticeRepeats atomic.Uint64
	noticesStale, stale                             atomic.Uint64
}

// Stats is a snapshot of a participant's counters.
type Stats struct {
	// Sent is the number of RTP packets sent, SentBytes their size on the
	// wire (SRTP), SentRTCP the SRTCP packets sent (reports and BYE),
	// SendErrors the writes that failed.
	Sent, SentBytes, SentRTCP, SendErrors uint64
	// Received is the number of authenticated RTP packets received from
	// all senders, ReceivedBytes their plaintext size, ReceivedRTCP the
	// authenticated SRTCP packets.
	Received, ReceivedBytes, ReceivedRTCP uint64
	// Reports is the number of report blocks about this participant's
	// stream received from the server (in RRs or SRs).
	Reports uint64
	// AuthFailures counts SRTP and SRTCP packets dropped because their tag
	// did not verify (forged, corrupted, other keys); Replays those
	// dropped as replayed or too old.
	AuthFailures, Replays uint64
	// Malformed counts RTP/RTCP packets dropped as malformed (before or
	// after decryption); NotMedia datagrams that are neither RTP nor
	// RTCP; Truncated datagrams larger than MaxPacketSize.
	Malformed, NotMedia, Truncated uint64
	// ReadErrors counts socket read errors (ICMP port unreachable, ...).
	ReadErrors uint64
	// Notices counts authenticated, non-replayed reconnect notices from
	// the current server with its ServerSSRC as sender (every copy:
	// accepted, repeats and those ignored during a move).
	Notices uint64
	// Rebinds counts Rebind calls that switched socket.
	Rebinds uint64

	// RejectedRTCP counts SRTCP packets dropped because they failed
	// authentication or the replay window (a subset of AuthFailures and
	// Replays): a forged or replayed reconnect notice is counted here,
	// since SRTCP encrypts the notice and nothing of it can be trusted
	// before it authenticates.
	RejectedRTCP uint64
	// NoticesWrongSender counts authenticated notices whose sender SSRC
	// is not the admission's ServerSSRC: ignored.
	NoticesWrongSender uint64
	// NoticeRepeats counts notices (with Options.Readmit) ignored because
	// a move was already under way: the server's repeats of the notice
	// that started it.
	NoticeRepeats uint64
	// NoticesStale counts notices from a server the participant had
	// already moved away from: ignored. Stale counts every authenticated
	// packet from such a server (notices included), none delivered.
	NoticesStale, Stale uint64
	// Moves counts switches to a new server; ReadmitFailures moves given
	// up (Readmit failed for good or ran out of attempts, or gave an
	// unusable admission); ReadmitRetries calls of Readmit repeated
	// after a temporary error.
	Moves, ReadmitFailures, ReadmitRetries uint64
	// MoveDrops counts RTP and RTCP packets that Send, SendWithLevel,
	// SendRTCP and SendBye dropped during a move, between its BYE to the
	// old server and the switch.
	MoveDrops uint64
}

// Stats returns a snapshot of the participant's counters.
func (p *Participant) Stats() Stats {
	c := &p.c
	return Stats{
		Sent: c.sent.Load(), SentBytes: c.sentBytes.Load(), SentRTCP: c.sentRTCP.Load(),
		SendErrors: c.sendErrors.Load(),
		Received:   c.received.Load(), ReceivedBytes: c.receivedBytes.Load(),
		ReceivedRTCP: c.receivedRTCP.Load(), Reports: c.reports.Load(),
		AuthFailures: c.authFailures.Load(), Replays: c.replays.Load(),
		Malformed: c.malformed.Load(), NotMedia: c.notMedia.Load(), Truncated: c.truncated.Load(),
		ReadErrors: c.readErrors.Load(), Notices: c.notices.Load(), Rebinds: c.rebinds.Load(),
		RejectedRTCP: c.rejectedRTCP.Load(), NoticesWrongSender: c.noticesWrongSender.Load(),
		NoticeRepeats: c.noticeRepeats.Load(), NoticesStale: c.noticesStale.Load(), Stale: c.stale.Load(),
		Moves: c.moves.Load(), ReadmitFailures: c.readmitFailures.Load(), ReadmitRetries: c.readmitRetries.Load(),
		MoveDrops: c.moveDrops.Load(),
	}
}

// SenderStats are the receive statistics of one stream the server
// forwarded to the participant.
type SenderStats struct {
	// SSRC is the sender's SSRC.
	SSRC uint32
	// Packets and Bytes count its authenticated packets and their payload
	// bytes.
	Packets, Bytes uint64
	// Lost is the cumulative number of packets lost (RFC 3550 A.3;
	// negative with duplicates), LossRatio the fraction lost.
	Lost      int64
	LossRatio float64
	// Jitter is the interarrival jitter (RFC 3550 A.8).
	Jitter time.Duration
	// LastSequence is the sequence number of its last packet.
	LastSequence uint16
	// AudioLevel is the last RFC 6464 level it sent, -1 if none.
	AudioLevel int
}

// ReceivedFrom returns the number of authenticated RTP packets received
// from the sender ssrc.
func (p *Participant) ReceivedFrom(ssrc uint32) uint64 {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if s := p.senders[ssrc]; s != nil {
		return s.stats.Packets()
	}
	return 0
}

// Senders returns the statistics of every stream received, by SSRC.
func (p *Participant) Senders() []SenderStats {
	p.rxMu.Lock()
	out := make([]SenderStats, 0, len(p.senders))
	for _, s := range p.senders {
		out = append(out, SenderStats{
			SSRC:         s.ssrc,
			Packets:      s.stats.Packets(),
			Bytes:        s.stats.Bytes(),
			Lost:         s.stats.CumulativeLost(),
			LossRatio:    s.stats.LossRatio(),
			Jitter:       time.Duration(uint64(s.stats.Jitter()) * uint64(time.Second) / media.DefaultClockRate),
			LastSequence: s.lastSeq,
			AudioLevel:   s.level,
		})
	}
	p.rxMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].SSRC < out[j].SSRC })
	return out
}

// ServerReport returns the last report block about this participant's
// stream the server sent, and when it arrived; ok is false if none came.
func (p *Participant) ServerReport() (rb media.ReportBlock, at time.Time, ok bool) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	return p.serverReport, p.serverRRAt, !p.serverRRAt.IsZero()
}

// LastNotice returns the last authenticated reconnect notice and when it
// arrived; ok is false if none came.
func (p *Participant) LastNotice() (n media.ReconnectNotice, at time.Time, ok bool) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	return p.lastNotice, p.lastNoticeAt, !p.lastNoticeAt.IsZero()
}
