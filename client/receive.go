package client

import (
	"os"
	"time"

	"github.com/voxfleet/vox/media"
)

var errDeadline = os.ErrDeadlineExceeded

// handleDatagram classifies, authenticates, decrypts and dispatches one
// datagram received at now on the reader's current path. It runs on the
// reader goroutine and does not allocate (except inside pion/srtp for
// forged packets, see package media).
func (p *Participant) handleDatagram(b []byte, now time.Time) {
	p.handleDatagramOn(p.rx, b, now)
}

// handleDatagramOn is handleDatagram for a datagram read from rx's socket.
// A datagram from a server the participant has moved away from (read just
// before the switch closed its socket) is authenticated with that
// server's keys, then dropped and counted: it reaches no handler.
func (p *Participant) handleDatagramOn(rx *path, b []byte, now time.Time) {
	switch media.Classify(b) {
	case media.KindRTP:
		plain, h, err := rx.in.DecryptRTP(b)
		if err != nil {
			p.countDrop(err)
			return
		}
		if rx.gen != p.path.Load().gen {
			p.c.stale.Add(1)
			return
		}
		p.handleRTP(rx, plain, h, now)
	case media.KindRTCP:
		plain, err := rx.in.DecryptRTCP(b)
		if err != nil {
			p.countDrop(err)
			if err == media.ErrAuthFailed || err == media.ErrReplayed {
				p.c.rejectedRTCP.Add(1)
			}
			return
		}
		if rx.gen != p.path.Load().gen {
			p.c.stale.Add(1)
			if n, err := media.ParseReconnectNotice(plain); err == nil && n.SSRC == rx.adm.ServerSSRC {
				p.c.noticesStale.Add(1)
			}
			return
		}
		p.handleRTCP(rx, plain, now)
	default:
		p.c.notMedia.Add(1)
	}
}

func (p *Participant) countDrop(err error) {
	switch err {
	case media.ErrAuthFailed:
		p.c.authFailures.Add(1)
	case media.ErrReplayed:
		p.c.replays.Add(1)
	default:
		p.c.malformed.Add(1)
	}
}

func (p *Participant) handleRTP(rx *path, plain []byte, h media.RTPHeader, now time.Time) {
	payload := h.Payload(plain)
	level, voice, hasLevel := 0, false, false
	if extID := rx.adm.AudioLevelExtensionID; extID != 0 && h.Extension {
		var l uint8
		l, voice, hasLevel = media.AudioLevel(plain, h, extID)
		level = int(l)
	}
	if !hasLevel {
		level = -1
	}
	p.c.received.Add(1)
	p.c.receivedBytes.Add(uint64(len(plain)))

	p.rxMu.Lock()
	s := p.lastSender
	if s == nil || s.ssrc != h.SSRC {
		s = p.senders[h.SSRC]
		if s == nil {
			// Only authenticated packets get here: the server's
			// forwarded streams and nothing forged.
			s = &sender{ssrc: h.SSRC, level: -1}
			p.senders[h.SSRC] = s
		}
		p.lastSender = s
	}
	s.stats.Update(h.SequenceNumber, h.Timestamp, len(payload), int64(now.Sub(p.epoch)))
	s.heard = true
	s.lastSeq = h.SequenceNumber
	if hasLevel {
		s.level = level
	}
	p.rxMu.Unlock()

	if f := p.opts.OnRTP; f != nil {
		p.pkt = Packet{
			Header:     h,
			Raw:        plain,
			Payload:    payload,
			Arrival:    now,
			AudioLevel: level,
			Voice:      voice,
		}
		f(&p.pkt)
	}
}

// handleRTCP handles an authenticated, decrypted compound RTCP packet
// from rx's server: the server's receiver (or sender) reports about this
// participant's stream, sender reports about forwarded streams, and
// reconnect notices.
func (p *Participant) handleRTCP(rx *path, plain []byte, now time.Time) {
	p.c.receivedRTCP.Add(1)
	sawApp := false
	it := media.NewRTCPIter(plain)
	for it.Next() {
		pk := it.Packet()
		switch pk.Type {
		case media.RTCPTypeSR, media.RTCPTypeRR:
			p.handleReport(rx, pk, now)
		case media.RTCPTypeAPP:
			sawApp = true
		case media.RTCPTypeSDES:
			p.handleSDES(pk)
		case media.RTCPTypeBYE:
			p.handleRosterBye(pk)
		}
		if f := p.opts.OnRTCP; f != nil {
			f(pk)
		}
	}
	if it.Err() != nil {
		p.c.malformed.Add(1)
		return
	}
	if !sawApp {
		return
	}
	n, err := media.ParseReconnectNotice(plain)
	if err != nil {
		return // another APP packet, or a malformed notice
	}
	if n.SSRC != rx.adm.ServerSSRC {
		// Authenticated, so from someone holding the keys, but not the
		// server's own RTCP: vox never sends that.
		p.c.noticesWrongSender.Add(1)
		return
	}
	p.c.notices.Add(1)
	p.rxMu.Lock()
	p.lastNotice, p.lastNoticeAt = n, now
	p.rxMu.Unlock()
	// Removed and session closed end the participant's stay: it is not
	// asked to come back elsewhere, so it does not move by itself (the
	// application hears of it through OnReconnect).
	final := n.Reason == media.ReconnectRemoved || n.Reason == media.ReconnectSessionClosed
	if p.opts.Readmit != nil && !final && !p.startMove(rx, n) {
		p.c.noticeRepeats.Add(1)
		return
	}
	if f := p.opts.OnReconnect; f != nil {
		f(n)
	}
}

func (p *Participant) handleReport(rx *path, pk media.RTCPPacket, now time.Time) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if pk.Type == media.RTCPTypeSR {
		sr, err := media.ParseSenderReport(pk)
		if err != nil {
			return
		}
		if s := p.senders[sr.SSRC]; s != nil {
			s.stats.OnSenderReport(sr.NTPTime, int64(now.Sub(p.epoch)))
		}
	}
	for i := 0; i < int(pk.Count); i++ {
		rb, err := pk.ReportBlock(i)
		if err != nil {
			return
		}
		if rb.SSRC == rx.adm.SSRC {
			p.serverReport, p.serverRRAt = rb, now
			p.c.reports.Add(1)
		}
	}
}
