package client

import (
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
)

// BenchmarkSend measures one RTP packet built, encrypted and written to
// loopback (the fake server does not read: the kernel drops what overflows
// its buffer).
func BenchmarkSend(b *testing.B) {
	for _, prof := range media.Profiles() {
		b.Run(prof.String(), func(b *testing.B) {
			s := newFakeServer(b, prof)
			p, err := Join(b.Context(), s.adm, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			payload := make([]byte, 80)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.SendWithLevel(payload, 40, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReceive measures the reader's handling of one forwarded packet:
// classify, authenticate and decrypt, statistics, handler.
func BenchmarkReceive(b *testing.B) {
	for _, prof := range media.Profiles() {
		b.Run(prof.String(), func(b *testing.B) {
			s := newFakeServer(b, prof)
			p, err := Join(b.Context(), s.adm, Options{OnRTP: func(*Packet) {}})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			payload := make([]byte, 80)
			plain := media.AppendRTPHeader(nil, media.RTPFields{PayloadType: 111, SSRC: 0x99})
			plain = append(plain, payload...)
			wire := make([]byte, 0, 2048)
			buf := make([]byte, 2048)
			seq := uint16(0)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				// Encrypting a fresh packet is part of the cost measured:
				// the receiver refuses replays.
				seq++
				_ = media.SetSequenceNumber(plain, seq)
				w, err := s.out.EncryptRTP(wire[:0], plain)
				if err != nil {
					b.Fatal(err)
				}
				n := copy(buf, w)
				p.handleDatagram(buf[:n], time.Now())
			}
		})
	}
}
