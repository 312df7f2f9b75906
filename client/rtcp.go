package client

import (
	"encoding/binary"
	"time"

	"github.com/voxfleet/vox/media"
)

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP) to
// 1970-01-01 (Unix).
const ntpEpochOffset = 2208988800

// ntpTime returns t as a 64-bit NTP timestamp (RFC 3550 §4).
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// SendRTCP sends an SRTCP report: a sender report (RFC 3550 §6.4.1) once
// the participant has sent RTP, a receiver report before, each with a
// report block for every forwarded stream heard since the previous report
// (at most 31). The server takes any authenticated RTCP as a sign of life.
// It does not allocate (except 12 bytes inside pion/srtp with
// AEAD_AES_128_GCM).
func (p *Participant) SendRTCP() error {
	now := time.Now()
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if p.dropping {
		p.c.moveDrops.Add(1)
		return nil
	}
	blocks := p.reportBlocks(now)
	rr, err := media.AppendReceiverReport(p.scratch[:0], p.ssrc, blocks...)
	if err != nil {
		return err
	}
	p.scratch = rr[:0]
	b := p.rtcpBuf[:0]
	if !p.anySent {
		b = append(b, rr...)
	} else {
		// An SR is the RR's header and sender SSRC, the sender info, then
		// the same report blocks.
		b = append(b, rr[:8]...)
		b[1] = media.RTCPTypeSR
		binary.BigEndian.PutUint16(b[2:4], uint16((len(rr)+media.SenderInfoSize)/4-1))
		rtpTime := p.lastTS + uint32(int64(now.Sub(p.lastSendAt).Seconds()*media.DefaultClockRate))
		b = binary.BigEndian.AppendUint64(b, ntpTime(now))
		b = binary.BigEndian.AppendUint32(b, rtpTime)
		b = binary.BigEndian.AppendUint32(b, p.srPackets)
		b = binary.BigEndian.AppendUint32(b, p.srOctets)
		b = append(b, rr[8:]...)
	}
	return p.writeRTCPLocked(b)
}

// reportBlocks fills p.blocks with a report block for every stream heard
// since the previous report. p.sendMu is held (it guards p.blocks).
func (p *Participant) reportBlocks(now time.Time) []media.ReportBlock {
	at := int64(now.Sub(p.epoch))
	n := 0
	p.rxMu.Lock()
	for _, s := range p.senders {
		if n == len(p.blocks) {
			break
		}
		if !s.heard {
			continue
		}
		s.heard = false
		p.blocks[n] = s.stats.ReportBlock(s.ssrc, at)
		n++
	}
	p.rxMu.Unlock()
	return p.blocks[:n]
}

// SendBye sends an SRTCP BYE (RFC 3550 §6.6) for the participant's SSRC,
// on its own (reduced-size RTCP, RFC 5506); the server frees the
// participant on receipt. Leave is SendBye then Close. During a move,
// after the move's own BYE to the old server, it sends nothing (counted in
// Stats.MoveDrops) and returns nil.
func (p *Participant) SendBye() error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if p.dropping {
		p.c.moveDrops.Add(1)
		return nil
	}
	return p.sendByeLocked()
}

// sendByeLocked sends a BYE for the current SSRC to the current server.
// p.sendMu is held.
func (p *Participant) sendByeLocked() error {
	b, err := media.AppendBye(p.rtcpBuf[:0], p.ssrc)
	if err != nil {
		return err
	}
	return p.writeRTCPLocked(b)
}

// writeRTCPLocked encrypts the plaintext RTCP packet b, which lies in
// p.rtcpBuf, in place and sends it. p.sendMu is held.
func (p *Participant) writeRTCPLocked(b []byte) error {
	pkt, err := p.out.EncryptRTCP(b[:0], b)
	if err != nil {
		return err
	}
	p.rtcpBuf = pkt[:0]
	if _, err := p.path.Load().conn.Write(pkt); err != nil {
		p.c.sendErrors.Add(1)
		return err
	}
	p.c.sentRTCP.Add(1)
	return nil
}
