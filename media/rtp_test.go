package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

func TestClassify(t *testing.T) {
	stun := make([]byte, 20)
	stun[1] = 0x01 // binding request
	stun[4], stun[5], stun[6], stun[7] = 0x21, 0x12, 0xA4, 0x42
	for _, c := range []struct {
		name string
		b    []byte
		want Kind
	}{
		{"empty", nil, KindUnknown},
		{"rtp", rtpPacket(1, 2, 0), KindRTP},
		{"rtp marker pt 0", append([]byte{0x80, 0x80}, make([]byte, 10)...), KindRTP},
		{"rtp pt 127 marker", append([]byte{0x80, 0xFF}, make([]byte, 10)...), KindRTP},
		{"rtp 11 bytes", rtpPacket(1, 2, 0)[:11], KindUnknown},
		{"rtp one byte", []byte{0x80}, KindUnknown},
		{"rtcp sr", []byte{0x80, 200, 0, 1, 1, 2, 3, 4}, KindRTCP},
		{"rtcp 192", []byte{0x80, 192, 0, 1, 1, 2, 3, 4}, KindRTCP},
		{"rtcp 223", []byte{0x81, 223, 0, 1, 1, 2, 3, 4}, KindRTCP},
		{"rtcp 7 bytes", []byte{0x80, 201, 0, 1, 1, 2, 3}, KindUnknown},
		{"pt 224 is rtp", append([]byte{0x80, 224}, make([]byte, 10)...), KindRTP},
		{"pt 191 is rtp", append([]byte{0x80, 191}, make([]byte, 10)...), KindRTP},
		{"version 3 (192)", append([]byte{0xC0, 0}, make([]byte, 10)...), KindUnknown},
		{"version 1 (64)", append([]byte{0x40, 0}, make([]byte, 10)...), KindUnknown},
		{"version 0 not stun", make([]byte, 20), KindUnknown},
		{"stun", stun, KindSTUN},
		{"stun short", stun[:19], KindUnknown},
		{"dtls", append([]byte{22, 0xfe, 0xfd}, make([]byte, 10)...), KindDTLS},
		{"dtls short", []byte{22, 0xfe, 0xfd}, KindUnknown},
		{"zrtp", append([]byte{16}, make([]byte, 20)...), KindUnknown},
		{"turn channel", append([]byte{64}, make([]byte, 20)...), KindUnknown},
	} {
		if got := Classify(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if KindRTCP.String() != "rtcp" || Kind(99).String() != "unknown" {
		t.Error("String")
	}
	if s, ok := SSRCOf(rtpPacket(1, 0xdeadbeef, 0), KindRTP); !ok || s != 0xdeadbeef {
		t.Error("SSRCOf rtp")
	}
	if s, ok := SSRCOf([]byte{0x80, 201, 0, 1, 1, 2, 3, 4}, KindRTCP); !ok || s != 0x01020304 {
		t.Error("SSRCOf rtcp")
	}
	if _, ok := SSRCOf(stun, KindSTUN); ok {
		t.Error("SSRCOf stun")
	}
}

// extPacket builds an RTP packet with CSRCs, a header extension block and
// optional padding by hand.
func extPacket(csrcs int, profile uint16, ext []byte, payload []byte, pad int) []byte {
	b := []byte{0x80 | byte(csrcs), 0xEF, 0x12, 0x34, 0, 0, 0x03, 0xC0, 0xCA, 0xFE, 0xBA, 0xBE}
	for i := range csrcs {
		b = append(b, 0, 0, 0, byte(i+1))
	}
	if ext != nil {
		b[0] |= 0x10
		b = append(b, byte(profile>>8), byte(profile), byte(len(ext)/4>>8), byte(len(ext)/4))
		b = append(b, ext...)
	}
	b = append(b, payload...)
	if pad > 0 {
		b[0] |= 0x20
		b = append(b, make([]byte, pad-1)...)
		b = append(b, byte(pad))
	}
	return b
}

func TestParseRTP(t *testing.T) {
	oneByte := []byte{0x10, 0xAA, 0x21, 0xBB, 0xCC, 0, 0, 0} // id1 len1, id2 len2, padding
	pkt := extPacket(2, ExtensionProfileOneByte, oneByte, []byte("opus"), 4)
	h, err := ParseRTP(pkt)
	if err != nil {
		t.Fatal(err)
	}
	want := RTPHeader{
		Marker: true, Padding: true, Extension: true, PayloadType: 0x6F, CSRCCount: 2,
		SequenceNumber: 0x1234, Timestamp: 0x3C0, SSRC: 0xCAFEBABE,
		ExtensionProfile: 0xBEDE, ExtensionOffset: 24, ExtensionLength: 8,
		HeaderLength: 32, PaddingLength: 4,
	}
	if h != want {
		t.Fatalf("got  %+v\nwant %+v", h, want)
	}
	if string(h.Payload(pkt)) != "opus" || h.CSRC(pkt, 1) != 2 {
		t.Fatalf("payload %q csrc %d", h.Payload(pkt), h.CSRC(pkt, 1))
	}
	// Cross-check against pion/rtp.
	var ph rtp.Header
	n, err := ph.Unmarshal(pkt)
	if err != nil || n != h.HeaderLength || ph.SSRC != h.SSRC || ph.Timestamp != h.Timestamp ||
		ph.SequenceNumber != h.SequenceNumber || ph.PayloadType != h.PayloadType || ph.Marker != h.Marker {
		t.Fatalf("pion disagrees: %d %+v %v", n, ph, err)
	}
	if hh, err := ParseRTPHeader(pkt); err != nil || hh.PaddingLength != 0 || hh.HeaderLength != 32 {
		t.Fatalf("ParseRTPHeader %+v %v", hh, err)
	}

	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", pkt[:11], ErrTooShort},
		{"version 0", append([]byte{0x00}, pkt[1:]...), ErrBadVersion},
		{"version 3", append([]byte{0xC0}, pkt[1:]...), ErrBadVersion},
		{"csrc past end", extPacket(3, 0, nil, nil, 0)[:20], ErrTooShort},
		{"15 csrcs, 12 bytes", append([]byte{0x8F}, pkt[1:12]...), ErrTooShort},
		{"ext header cut", extPacket(0, 0xBEDE, oneByte, nil, 0)[:14], ErrTooShort},
		{"ext data cut", extPacket(0, 0xBEDE, oneByte, nil, 0)[:19], ErrTooShort},
		{"padding 0", extPacket(0, 0, nil, []byte{1, 2, 3}, 0), nil},
		{"padding count 0", append(append([]byte{0xA0}, pkt[1:12]...), 1, 2, 0), ErrBadPadding},
		{"padding too long", append(append([]byte{0xA0}, pkt[1:12]...), 1, 2, 4), ErrBadPadding},
		{"padding no payload", append([]byte{0xA0}, pkt[1:12]...), ErrBadPadding},
		{"padding whole payload", append(append([]byte{0xA0}, pkt[1:12]...), 0, 0, 3), nil},
	} {
		if _, err := ParseRTP(c.b); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestRewrite(t *testing.T) {
	pkt := extPacket(1, 0, nil, []byte("x"), 0)
	if err := SetSequenceNumber(pkt, 0xFFFF); err != nil {
		t.Fatal(err)
	}
	_ = SetTimestamp(pkt, 0x01020304)
	_ = SetSSRC(pkt, 0x0A0B0C0D)
	_ = SetMarker(pkt, false)
	h, err := ParseRTP(pkt)
	if err != nil || h.SequenceNumber != 0xFFFF || h.Timestamp != 0x01020304 || h.SSRC != 0x0A0B0C0D || h.Marker || h.PayloadType != 0x6F {
		t.Fatalf("%+v %v", h, err)
	}
	_ = SetMarker(pkt, true)
	if h, _ := ParseRTP(pkt); !h.Marker || h.CSRC(pkt, 0) != 1 {
		t.Fatal("marker/csrc")
	}
	for _, f := range []func([]byte) error{
		func(b []byte) error { return SetSequenceNumber(b, 1) },
		func(b []byte) error { return SetTimestamp(b, 1) },
		func(b []byte) error { return SetSSRC(b, 1) },
		func(b []byte) error { return SetMarker(b, true) },
	} {
		if f(make([]byte, 11)) != ErrTooShort {
			t.Error("short rewrite accepted")
		}
	}
}

func TestFindExtension(t *testing.T) {
	oneByte := []byte{
		0x00,       // padding
		0x10, 0xAA, // id 1, 1 byte
		0x23, 1, 2, 3, 4, // id 2, 4 bytes
		0xE0, 0x55, // id 14, 1 byte
		0x00, 0x00, 0x00,
	}
	twoByte := []byte{
		0x01, 0x00, // id 1, 0 bytes
		0x00,          // padding
		0xFF, 2, 9, 8, // id 255, 2 bytes
		0x05, 1, 0x7F, // id 5, 1 byte
		0x00, 0x00,
	}
	for _, c := range []struct {
		name    string
		profile uint16
		ext     []byte
		id      uint8
		want    []byte
		found   bool
	}{
		{"one-byte 1", 0xBEDE, oneByte, 1, []byte{0xAA}, true},
		{"one-byte 2", 0xBEDE, oneByte, 2, []byte{1, 2, 3, 4}, true},
		{"one-byte 14", 0xBEDE, oneByte, 14, []byte{0x55}, true},
		{"one-byte absent", 0xBEDE, oneByte, 3, nil, false},
		{"one-byte id 0", 0xBEDE, oneByte, 0, nil, false},
		{"one-byte id 15", 0xBEDE, oneByte, 15, nil, false},
		{"one-byte stops at 15", 0xBEDE, []byte{0xF0, 0x00, 0x10, 0x77}, 1, nil, false},
		{"one-byte overrun", 0xBEDE, []byte{0x00, 0x00, 0x00, 0x13}, 1, nil, false},
		{"two-byte 0-length", 0x1000, twoByte, 1, []byte{}, true},
		{"two-byte 255", 0x1000, twoByte, 255, []byte{9, 8}, true},
		{"two-byte appbits", 0x100F, twoByte, 5, []byte{0x7F}, true},
		{"two-byte absent", 0x1000, twoByte, 6, nil, false},
		{"two-byte cut", 0x1000, []byte{0, 0, 0, 7}, 7, nil, false},
		{"two-byte overrun", 0x1000, []byte{0, 0, 7, 5}, 7, nil, false},
		{"other profile", 0x1234, oneByte, 1, nil, false},
	} {
		pkt := extPacket(1, c.profile, c.ext, []byte("payload"), 0)
		h, err := ParseRTP(pkt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, ok := FindExtension(pkt, h, c.id)
		if ok != c.found || !bytes.Equal(got, c.want) {
			t.Errorf("%s: %x %v, want %x %v", c.name, got, ok, c.want, c.found)
		}
		// pion/rtp agrees on what is there (pion only knows the two-byte
		// form as exactly 0x1000, not 0x1001..0x100F).
		var ph rtp.Header
		if _, err := ph.Unmarshal(pkt); err == nil && c.found && c.profile != 0x100F {
			if pe := ph.GetExtension(c.id); !bytes.Equal(pe, c.want) {
				t.Errorf("%s: pion says %x", c.name, pe)
			}
		}
	}
	h, _ := ParseRTP(rtpPacket(1, 2, 10))
	if _, ok := FindExtension(rtpPacket(1, 2, 10), h, 1); ok {
		t.Error("found extension in a packet without one")
	}
}

func TestAudioLevel(t *testing.T) {
	for _, c := range []struct {
		level uint8
		voice bool
	}{{0, true}, {127, false}, {30, true}, {90, false}} {
		f := RTPFields{Marker: true, PayloadType: 111, SequenceNumber: 7, Timestamp: 960, SSRC: 0x11223344}
		b, err := AppendRTPHeaderWithAudioLevel(make([]byte, 0, 64), f, 3, c.level, c.voice)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != RTPHeaderSize+AudioLevelExtensionSize {
			t.Fatalf("len %d", len(b))
		}
		b = append(b, "frame"...)
		h, err := ParseRTP(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.SSRC != f.SSRC || h.SequenceNumber != 7 || !h.Marker || string(h.Payload(b)) != "frame" {
			t.Fatalf("%+v", h)
		}
		level, voice, ok := AudioLevel(b, h, 3)
		if !ok || level != c.level || voice != c.voice {
			t.Fatalf("AudioLevel = %d %v %v, want %d %v", level, voice, ok, c.level, c.voice)
		}
		if _, _, ok := AudioLevel(b, h, 4); ok {
			t.Fatal("wrong id found")
		}
		// pion/rtp reads the same element.
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		if e := p.GetExtension(3); len(e) != 1 || e[0]&0x7F != c.level || (e[0]&0x80 != 0) != c.voice {
			t.Fatalf("pion reads %x", e)
		}
	}
	// Two-byte form is read too (RFC 6464 §3 allows either).
	pkt := extPacket(0, 0x1000, []byte{9, 1, 0x85, 0}, nil, 0)
	h, _ := ParseRTP(pkt)
	if level, voice, ok := AudioLevel(pkt, h, 9); !ok || level != 5 || !voice {
		t.Fatalf("two-byte: %d %v %v", level, voice, ok)
	}
	for _, bad := range []struct{ id, level uint8 }{{0, 1}, {15, 1}, {1, 128}} {
		if _, err := AppendRTPHeaderWithAudioLevel(nil, RTPFields{}, bad.id, bad.level, false); err != ErrInvalidArgument {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRTPZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	b, _ := AppendRTPHeaderWithAudioLevel(make([]byte, 0, 64), RTPFields{SSRC: 1}, 1, 40, true)
	b = append(b, make([]byte, 100)...)
	dst := make([]byte, 0, 64)
	var sink uint8
	a := testing.AllocsPerRun(100, func() {
		k := Classify(b)
		h, err := ParseRTP(b)
		if err != nil || k != KindRTP {
			t.Fatal(err)
		}
		l, _, _ := AudioLevel(b, h, 1)
		sink += l
		_ = SetSequenceNumber(b, h.SequenceNumber+1)
		dst, _ = AppendRTPHeaderWithAudioLevel(dst[:0], RTPFields{SSRC: 2}, 1, l, true)
		dst = AppendRTPHeader(dst[:0], RTPFields{SSRC: 2})
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
}
