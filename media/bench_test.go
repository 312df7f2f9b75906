package media

import (
	"testing"

	"github.com/pion/rtcp"
)

// Run with: go test ./media -run '^$' -bench . -benchmem

const benchPayload = 100 // a 20 ms Opus voice frame is ~40-120 bytes

func benchRTP() []byte {
	b, _ := AppendRTPHeaderWithAudioLevel(make([]byte, 0, 1500), RTPFields{PayloadType: 111, SequenceNumber: 1, Timestamp: 960, SSRC: 0xCAFE}, 1, 40, true)
	return append(b, make([]byte, benchPayload)...)
}

func BenchmarkClassify(b *testing.B) {
	pkt := benchRTP()
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if Classify(pkt) != KindRTP {
			b.Fatal("kind")
		}
	}
}

func BenchmarkParseRTP(b *testing.B) {
	pkt := benchRTP()
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRTP(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAudioLevel(b *testing.B) {
	pkt := benchRTP()
	h, _ := ParseRTP(pkt)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if l, _, ok := AudioLevel(pkt, h, 1); !ok || l != 40 {
			b.Fatal("level")
		}
	}
}

func BenchmarkRTCPIter(b *testing.B) {
	sr, _ := (&rtcp.SenderReport{SSRC: 1, NTPTime: 5, Reports: []rtcp.ReceptionReport{{SSRC: 2}}}).Marshal()
	sdes, _ := (&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "vox-participant"}}}}}).Marshal()
	bye, _ := AppendBye(nil, 1)
	compound := append(append(sr, sdes...), bye...)
	b.SetBytes(int64(len(compound)))
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		it := NewRTCPIter(compound)
		for it.Next() {
			p := it.Packet()
			switch p.Type {
			case RTCPTypeSR:
				s, _ := ParseSenderReport(p)
				sink += s.LSR()
			case RTCPTypeBYE:
				bb, _ := ParseBye(p)
				sink += bb.SSRC(0)
			}
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
	_ = sink
}

func BenchmarkReceiveStatsUpdate(b *testing.B) {
	var s ReceiveStats
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		s.Update(uint16(i), uint32(i*960), benchPayload, int64(i)*20e6)
	}
}

// srtpStream pre-encrypts packets of one 20 ms stream so that the timed
// loop only decrypts (each iteration copies one packet into the receive
// buffer first, as the socket would have: ~10 ns of the figure).
type srtpStream struct {
	src  *Outbound
	seq  uint16
	ring [][]byte
	next int
}

func newSRTPStream(b *testing.B, p Profile) *srtpStream {
	src, err := NewOutbound(p, testKeys(b, p))
	if err != nil {
		b.Fatal(err)
	}
	s := &srtpStream{src: src, ring: make([][]byte, 1<<13)}
	for i := range s.ring {
		s.ring[i] = make([]byte, 0, 256)
	}
	s.refill(b)
	return s
}

func (s *srtpStream) refill(b *testing.B) {
	plain := benchRTP()
	for i := range s.ring {
		s.seq++
		_ = SetSequenceNumber(plain, s.seq)
		_ = SetTimestamp(plain, uint32(s.seq)*960)
		var err error
		if s.ring[i], err = s.src.EncryptRTP(s.ring[i][:0], plain); err != nil {
			b.Fatal(err)
		}
	}
	s.next = 0
}

func (s *srtpStream) packet(b *testing.B) []byte {
	if s.next == len(s.ring) {
		b.StopTimer()
		s.refill(b)
		b.StartTimer()
	}
	p := s.ring[s.next]
	s.next++
	return p
}

// BenchmarkForward is the forward path's crypto for one packet: decrypt it
// with the speaker's Inbound, then encrypt it for three listeners.
func BenchmarkForward(b *testing.B) {
	for _, p := range Profiles() {
		b.Run(p.String(), func(b *testing.B) {
			stream := newSRTPStream(b, p)
			in, err := NewInbound(p, testKeys(b, p))
			if err != nil {
				b.Fatal(err)
			}
			var outs [3]*Outbound
			for i := range outs {
				if outs[i], err = NewOutbound(p, testKeys(b, p)); err != nil {
					b.Fatal(err)
				}
			}
			rx := make([]byte, 0, 1500)
			tx := make([]byte, 0, 1500)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				rx = append(rx[:0], stream.packet(b)...)
				plain, _, err := in.DecryptRTP(rx)
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range outs {
					if _, err := o.EncryptRTP(tx[:0], plain); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkInboundDecrypt is the receive half of BenchmarkForward alone.
func BenchmarkInboundDecrypt(b *testing.B) {
	for _, p := range Profiles() {
		b.Run(p.String(), func(b *testing.B) {
			stream := newSRTPStream(b, p)
			in, _ := NewInbound(p, testKeys(b, p))
			rx := make([]byte, 0, 1500)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				rx = append(rx[:0], stream.packet(b)...)
				if _, _, err := in.DecryptRTP(rx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOutboundEncrypt is one listener's encryption alone.
func BenchmarkOutboundEncrypt(b *testing.B) {
	for _, p := range Profiles() {
		b.Run(p.String(), func(b *testing.B) {
			out, _ := NewOutbound(p, testKeys(b, p))
			plain := benchRTP()
			tx := make([]byte, 0, 1500)
			seq := uint16(0)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				seq++
				_ = SetSequenceNumber(plain, seq)
				if _, err := out.EncryptRTP(tx[:0], plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInboundForged is the cost of rejecting a forged packet (bad
// tag) for a known SSRC, sequence number ahead of the window: the whole
// authentication is computed before the rejection.
func BenchmarkInboundForged(b *testing.B) {
	for _, p := range Profiles() {
		b.Run(p.String(), func(b *testing.B) {
			stream := newSRTPStream(b, p)
			in, _ := NewInbound(p, testKeys(b, p))
			if _, _, err := in.DecryptRTP(append([]byte(nil), stream.packet(b)...)); err != nil {
				b.Fatal(err)
			}
			forged := append([]byte(nil), stream.ring[100]...)
			forged[len(forged)-1] ^= 1
			rx := make([]byte, 0, 1500)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				rx = append(rx[:0], forged...)
				if _, _, err := in.DecryptRTP(rx); err != ErrAuthFailed {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInboundForgedUnknownSSRC is the same with an SSRC the Inbound
// never authenticated: pion builds (and discards) per-SSRC state each time.
// vox's dispatcher drops unknown SSRCs before this point.
func BenchmarkInboundForgedUnknownSSRC(b *testing.B) {
	for _, p := range Profiles() {
		b.Run(p.String(), func(b *testing.B) {
			stream := newSRTPStream(b, p)
			in, _ := NewInbound(p, testKeys(b, p))
			forged := append([]byte(nil), stream.ring[100]...)
			forged[len(forged)-1] ^= 1
			rx := make([]byte, 0, 1500)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				rx = append(rx[:0], forged...)
				if _, _, err := in.DecryptRTP(rx); err != ErrAuthFailed {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInboundReplay is the cost of rejecting a replayed packet: our
// own window rejects it before pion and before any crypto.
func BenchmarkInboundReplay(b *testing.B) {
	p := DefaultProfile
	stream := newSRTPStream(b, p)
	in, _ := NewInbound(p, testKeys(b, p))
	pkt := append([]byte(nil), stream.packet(b)...)
	if _, _, err := in.DecryptRTP(append([]byte(nil), pkt...)); err != nil {
		b.Fatal(err)
	}
	rx := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		rx = append(rx[:0], pkt...)
		if _, _, err := in.DecryptRTP(rx); err != ErrReplayed {
			b.Fatal(err)
		}
	}
}

// BenchmarkRTCPRoundTrip encrypts a reconnect notice and decrypts it.
func BenchmarkRTCPRoundTrip(b *testing.B) {
	for _, p := range Profiles() {
		b.Run(p.String(), func(b *testing.B) {
			out, _ := NewOutbound(p, testKeys(b, p))
			in, _ := NewInbound(p, testKeys(b, p))
			notice := AppendReconnectNotice(nil, ReconnectNotice{SSRC: 1, Reason: ReconnectDrain, WindowMS: 1000})
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				w, err := out.EncryptRTCP(buf[:0], notice)
				if err != nil {
					b.Fatal(err)
				}
				plain, err := in.DecryptRTCP(w)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ParseReconnectNotice(plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
