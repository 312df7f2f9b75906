package media

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ (Go's corpus file
// format) and run with every plain `go test`. TestWriteFuzzCorpus rewrites
// them from fuzzSeeds when VOX_WRITE_FUZZ_CORPUS=1. Fuzz briefly with e.g.
//
//	go test ./media -run '^$' -fuzz '^FuzzParseRTP$' -fuzztime 20s

func isSentinel(err error, allowed ...error) bool {
	for _, a := range allowed {
		if err == a {
			return true
		}
	}
	return false
}

// offsetIn returns the offset of sub within b (sub must alias b), or want
// when sub has zero capacity: Go does not advance the pointer of a
// zero-capacity reslice (it would point past the array), so its position
// is unknowable and harmless.
func offsetIn(b, sub []byte, want int) int {
	if cap(sub) == 0 {
		return want
	}
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

func FuzzParseRTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		hh, herr := ParseRTPHeader(b)
		h, err := ParseRTP(b)
		if herr != nil {
			if err != herr || !isSentinel(herr, ErrTooShort, ErrBadVersion) {
				t.Fatalf("ParseRTPHeader %v, ParseRTP %v", herr, err)
			}
			return
		}
		if err != nil {
			if err != ErrBadPadding || !hh.Padding {
				t.Fatalf("header ok but ParseRTP: %v", err)
			}
			return
		}
		hh.PaddingLength = h.PaddingLength
		if hh != h {
			t.Fatalf("header %+v != %+v", hh, h)
		}
		// Offsets within bounds and consistent.
		if h.HeaderLength < RTPHeaderSize+4*int(h.CSRCCount) || h.HeaderLength+h.PaddingLength > len(b) {
			t.Fatalf("bounds %+v len %d", h, len(b))
		}
		if h.Extension && h.ExtensionOffset+h.ExtensionLength != h.HeaderLength {
			t.Fatalf("extension %+v", h)
		}
		if !h.Extension && h.HeaderLength != RTPHeaderSize+4*int(h.CSRCCount) {
			t.Fatalf("no extension %+v", h)
		}
		if h.Padding != (h.PaddingLength > 0) {
			t.Fatalf("padding %+v", h)
		}
		_ = h.Payload(b)
		for i := range int(h.CSRCCount) {
			_ = h.CSRC(b, i)
		}
		// pion/rtp agrees on the fixed fields whenever it parses the header.
		var ph rtp.Header
		if n, perr := ph.Unmarshal(b); perr == nil {
			if n != h.HeaderLength || ph.SSRC != h.SSRC || ph.SequenceNumber != h.SequenceNumber ||
				ph.Timestamp != h.Timestamp || ph.PayloadType != h.PayloadType || ph.Marker != h.Marker ||
				len(ph.CSRC) != int(h.CSRCCount) || ph.Extension != h.Extension {
				t.Fatalf("pion %d %+v vs %+v", n, ph, h)
			}
		}
		// Re-encode the fixed header and compare.
		enc := AppendRTPHeader(nil, RTPFields{Marker: h.Marker, PayloadType: h.PayloadType,
			SequenceNumber: h.SequenceNumber, Timestamp: h.Timestamp, SSRC: h.SSRC})
		if enc[0] != b[0]&0xC0 || !bytes.Equal(enc[1:], b[1:12]) {
			t.Fatalf("re-encoded %x vs %x", enc, b[:12])
		}
		// Rewriting round-trips and touches nothing else.
		c := append([]byte(nil), b...)
		_ = SetSequenceNumber(c, ^h.SequenceNumber)
		_ = SetTimestamp(c, ^h.Timestamp)
		_ = SetSSRC(c, ^h.SSRC)
		_ = SetMarker(c, !h.Marker)
		h2, err := ParseRTP(c)
		if err != nil || h2.SequenceNumber != ^h.SequenceNumber || h2.Timestamp != ^h.Timestamp ||
			h2.SSRC != ^h.SSRC || h2.Marker == h.Marker || !bytes.Equal(c[12:], b[12:]) {
			t.Fatalf("rewrite: %+v %v", h2, err)
		}
	})
}

// refFindExtension is a second, independently written RFC 8285 walker
// returning the element's offset and length.
func refFindExtension(b []byte, h RTPHeader, id uint8) (off, n int, ok bool) {
	if !h.Extension || id == 0 {
		return 0, 0, false
	}
	ext := b[h.ExtensionOffset : h.ExtensionOffset+h.ExtensionLength]
	oneByte := h.ExtensionProfile == 0xBEDE
	twoByte := h.ExtensionProfile>>4 == 0x100
	if !oneByte && !twoByte || oneByte && id >= 15 {
		return 0, 0, false
	}
	pos := 0
	for pos < len(ext) {
		if ext[pos] == 0 {
			pos++
			continue
		}
		var eid uint8
		var l int
		if oneByte {
			eid, l = ext[pos]>>4, int(ext[pos]&15)+1
			if eid == 15 || eid == 0 { // reserved, or an ID-0 byte that is not padding
				return 0, 0, false
			}
			pos++
		} else {
			if pos+1 >= len(ext) {
				return 0, 0, false
			}
			eid, l = ext[pos], int(ext[pos+1])
			pos += 2
		}
		if len(ext)-pos < l {
			return 0, 0, false
		}
		if eid == id {
			return h.ExtensionOffset + pos, l, true
		}
		pos += l
	}
	return 0, 0, false
}

func FuzzFindExtension(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, id uint8) {
		h, err := ParseRTPHeader(b)
		if err != nil {
			return
		}
		data, ok := FindExtension(b, h, id)
		off, n, rok := refFindExtension(b, h, id)
		if ok != rok {
			t.Fatalf("found %v, reference %v", ok, rok)
		}
		level, voice, lok := AudioLevel(b, h, id)
		if lok != (ok && len(data) > 0) {
			t.Fatalf("AudioLevel ok %v with data %x", lok, data)
		}
		if !ok {
			return
		}
		start := offsetIn(b, data, off)
		if start != off || len(data) != n || start < h.ExtensionOffset || start+len(data) > h.HeaderLength {
			t.Fatalf("element at %d+%d, reference %d+%d, block %d+%d", start, len(data), off, n, h.ExtensionOffset, h.ExtensionLength)
		}
		if lok && (level != data[0]&0x7F || voice != (data[0]&0x80 != 0)) {
			t.Fatal("AudioLevel disagrees with data")
		}
		// Round trip through the writer.
		wid, wl := id%14+1, b[0]&0x7F
		w, err := AppendRTPHeaderWithAudioLevel(nil, RTPFields{SSRC: h.SSRC}, wid, wl, b[0]&0x80 != 0)
		if err != nil {
			t.Fatal(err)
		}
		wh, err := ParseRTP(w)
		if err != nil {
			t.Fatal(err)
		}
		if gl, gv, gok := AudioLevel(w, wh, wid); !gok || gl != wl || gv != (b[0]&0x80 != 0) {
			t.Fatalf("writer round trip %d %v %v", gl, gv, gok)
		}
	})
}

func FuzzRTCPIter(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		it := NewRTCPIter(b)
		total, n := 0, 0
		for it.Next() {
			p := it.Packet()
			n++
			if offsetIn(b, p.Raw, total) != total || len(p.Raw) < RTCPHeaderSize || len(p.Raw)%4 != 0 {
				t.Fatalf("raw at %d len %d, expected at %d", offsetIn(b, p.Raw, -1), len(p.Raw), total)
			}
			if offsetIn(b, p.Body, total+RTCPHeaderSize) != total+RTCPHeaderSize || len(p.Body) > len(p.Raw)-RTCPHeaderSize || p.Count > 31 {
				t.Fatalf("body %d+%d", offsetIn(b, p.Body, -1), len(p.Body))
			}
			total += len(p.Raw)
			_, _ = p.SenderSSRC()
			if sr, err := ParseSenderReport(p); err == nil && sr.LSR() != uint32(sr.NTPTime>>16) {
				t.Fatal("LSR")
			}
			var blocks []ReportBlock
			for i := range int(p.Count) {
				if rb, err := p.ReportBlock(i); err == nil {
					blocks = append(blocks, rb)
				}
			}
			if bye, err := ParseBye(p); err == nil {
				for i := range bye.Len() {
					_ = bye.SSRC(i)
				}
				if len(bye.Reason) > 255 {
					t.Fatal("reason")
				}
			}
			if app, err := ParseApp(p); err == nil {
				re, err := AppendApp(nil, app.SSRC, app.Subtype, app.Name, app.Data)
				if err == nil && !p.Padding && !bytes.Equal(re, p.Raw) {
					t.Fatalf("APP re-encoded %x vs %x", re, p.Raw)
				}
			}
			// An RR whose body is exactly its blocks re-encodes to itself.
			if p.Type == RTCPTypeRR && !p.Padding && len(blocks) == int(p.Count) && len(p.Body) == 4+ReportBlockSize*len(blocks) {
				ssrc, _ := p.SenderSSRC()
				re, err := AppendReceiverReport(nil, ssrc, blocks...)
				if err != nil || !bytes.Equal(re, p.Raw) {
					t.Fatalf("RR re-encoded %x vs %x (%v)", re, p.Raw, err)
				}
			}
		}
		err := it.Err()
		if err == nil {
			if total != len(b) {
				t.Fatalf("consumed %d of %d", total, len(b))
			}
			if vn, verr := ValidateRTCP(b); vn != n || verr != nil {
				t.Fatal("ValidateRTCP disagrees")
			}
			// pion splits the compound the same way when it accepts it.
			if pk, perr := rtcp.Unmarshal(b); perr == nil && len(pk) != n {
				t.Fatalf("pion found %d packets, we %d", len(pk), n)
			}
		} else if !isSentinel(err, ErrTooShort, ErrBadVersion, ErrMalformed, ErrBadPadding) {
			t.Fatalf("error %v", err)
		}
	})
}

func FuzzParseReconnectNotice(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseReconnectNotice(b)
		if err != nil {
			if !isSentinel(err, ErrTooShort, ErrBadVersion, ErrMalformed, ErrBadPadding, ErrNotReconnectNotice) {
				t.Fatalf("error %v", err)
			}
		} else {
			if n.Reason == 0 {
				t.Fatal("reason 0 accepted")
			}
			if _, verr := ValidateRTCP(b); verr != nil {
				t.Fatalf("notice from an invalid compound: %v", verr)
			}
			again, err := ParseReconnectNotice(AppendReconnectNotice(nil, n))
			if err != nil || again != n {
				t.Fatalf("round trip %+v %v", again, err)
			}
		}
		// Build from arbitrary field values and parse back.
		if len(b) >= 9 && b[4] != 0 {
			want := ReconnectNotice{
				SSRC:     uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]),
				Reason:   ReconnectReason(b[4]),
				WindowMS: uint32(b[5])<<24 | uint32(b[6])<<16 | uint32(b[7])<<8 | uint32(b[8]),
			}
			enc := AppendReconnectNotice(nil, want)
			if len(enc) != ReconnectNoticeSize {
				t.Fatal(len(enc))
			}
			if got, err := ParseReconnectNotice(enc); err != nil || got != want {
				t.Fatalf("built %+v parsed %+v %v", want, got, err)
			}
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		rtcpPT := len(b) >= 2 && b[1] >= 192 && b[1] <= 223
		switch k {
		case KindRTP:
			if len(b) < RTPHeaderSize || b[0]>>6 != 2 || rtcpPT {
				t.Fatalf("RTP %x", b)
			}
			if _, err := ParseRTPHeader(b); err != nil && err != ErrTooShort {
				t.Fatalf("RTP but %v", err)
			}
		case KindRTCP:
			if len(b) < RTCPMinSize || b[0]>>6 != 2 || !rtcpPT {
				t.Fatalf("RTCP %x", b)
			}
		case KindSTUN:
			if len(b) < STUNHeaderSize || b[0] > 3 {
				t.Fatalf("STUN %x", b)
			}
		case KindDTLS:
			if len(b) < DTLSRecordHeaderSize || b[0] < 20 || b[0] > 63 {
				t.Fatalf("DTLS %x", b)
			}
		case KindUnknown:
			if _, err := ParseRTP(b); err == nil && !rtcpPT {
				t.Fatalf("valid RTP classified unknown: %x", b)
			}
			if len(b) >= RTCPMinSize && b[0]>>6 == 2 && rtcpPT {
				t.Fatalf("RTCP classified unknown: %x", b)
			}
		default:
			t.Fatalf("kind %d", k)
		}
		if _, ok := SSRCOf(b, k); ok != (k == KindRTP || k == KindRTCP) {
			t.Fatalf("SSRCOf %v", k)
		}
	})
}

// fuzzSeeds are the committed seed corpora, one list per fuzz target.
func fuzzSeeds() map[string][][]any {
	rtpPlain := rtpPacket(7, 0xCAFEBABE, 8)
	withLevel, _ := AppendRTPHeaderWithAudioLevel(nil, RTPFields{PayloadType: 111, SequenceNumber: 1, SSRC: 9}, 1, 42, true)
	withLevel = append(withLevel, "opus"...)
	csrcExtPad := extPacket(2, ExtensionProfileOneByte, []byte{0x10, 0xAA, 0x21, 0xBB, 0xCC, 0, 0, 0}, []byte("opus"), 4)
	twoByte := extPacket(0, 0x1000, []byte{0x01, 0x00, 0x00, 0xFF, 2, 9, 8, 0x05, 1, 0x7F, 0, 0}, []byte("x"), 0)
	badVersion := append([]byte{0x40}, rtpPlain[1:]...)
	csrcCut := append([]byte{0x8F}, rtpPlain[1:]...)
	extCut := csrcExtPad[:26]
	padZero := append(append([]byte{0xA0}, rtpPlain[1:12]...), 1, 2, 0)
	padLong := append(append([]byte{0xA0}, rtpPlain[1:12]...), 1, 2, 200)
	overrun := extPacket(0, ExtensionProfileOneByte, []byte{0x00, 0x00, 0x00, 0x13}, nil, 0)

	sr, _ := (&rtcp.SenderReport{SSRC: 1, NTPTime: 0xE1234567_89ABCDEF, RTPTime: 960, PacketCount: 5, OctetCount: 500,
		Reports: []rtcp.ReceptionReport{{SSRC: 2, FractionLost: 3, TotalLost: 4}}}).Marshal()
	rr, _ := AppendReceiverReport(nil, 1, ReportBlock{SSRC: 2, FractionLost: 10, CumulativeLost: -1, ExtHighestSeq: 70000, Jitter: 480})
	sdes, _ := (&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "vox"}}}}}).Marshal()
	bye, _ := (&rtcp.Goodbye{Sources: []uint32{1, 2}, Reason: "bye"}).Marshal()
	notice := AppendReconnectNotice(nil, ReconnectNotice{SSRC: 3, Reason: ReconnectDrain, WindowMS: 30000})
	compound := append(append(append(append([]byte(nil), sr...), sdes...), bye...), notice...)
	rrNotice := append(append([]byte(nil), rr...), notice...)
	padded := []byte{0xA1, 203, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4}
	badPad := []byte{0xA0, 201, 0, 1, 0, 0, 0, 0}
	lenPast := []byte{0x80, 201, 0, 9, 0, 0, 0, 1}
	trailing := append(append([]byte(nil), rr...), 0x80, 201)
	rtcpBadVersion := append([]byte{0x40}, rr[1:]...)
	reasonZero, _ := AppendApp(nil, 3, 1, ReconnectNoticeName, []byte{0, 0, 0, 0, 0, 0, 0, 1})
	shortNotice, _ := AppendApp(nil, 3, 1, ReconnectNoticeName, []byte{1, 0, 0, 0})

	stun := make([]byte, 20)
	stun[1] = 1
	stun[4], stun[5], stun[6], stun[7] = 0x21, 0x12, 0xA4, 0x42
	dtls := append([]byte{22, 0xfe, 0xfd}, make([]byte, 10)...)

	one := func(bs ...[]byte) [][]any {
		var r [][]any
		for _, b := range bs {
			r = append(r, []any{b})
		}
		return r
	}
	rtpSeeds := [][]byte{{}, {0x80}, rtpPlain[:11], rtpPlain, withLevel, csrcExtPad, twoByte, badVersion, csrcCut, extCut, padZero, padLong, overrun}
	rtcpSeeds := [][]byte{{}, {0x80, 201}, sr, rr, sdes, bye, notice, compound, rrNotice, padded, badPad, lenPast, trailing, rtcpBadVersion, sr[:20]}
	var ext [][]any
	for i, b := range [][]byte{withLevel, csrcExtPad, twoByte, overrun, rtpPlain, extCut} {
		ext = append(ext, []any{b, uint8(i%3 + 1)})
	}
	ext = append(ext, []any{twoByte, uint8(255)}, []any{csrcExtPad, uint8(15)}, []any{withLevel, uint8(0)})
	return map[string][][]any{
		"FuzzParseRTP":             one(rtpSeeds...),
		"FuzzFindExtension":        ext,
		"FuzzRTCPIter":             one(rtcpSeeds...),
		"FuzzParseReconnectNotice": one(notice, rrNotice, compound, reasonZero, shortNotice, notice[:19], append(append([]byte(nil), notice...), 0), rtcpBadVersion, rr, []byte{}),
		"FuzzClassify":             one(append(append(append([][]byte{}, rtpSeeds...), rtcpSeeds...), stun, stun[:19], dtls, dtls[:5], []byte{16, 0, 0, 0}, []byte{64, 0, 0, 0, 0, 0, 0, 0})...),
	}
}

func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("VOX_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set VOX_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz")
	}
	for name, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, args := range seeds {
			var buf bytes.Buffer
			buf.WriteString("go test fuzz v1\n")
			for _, a := range args {
				switch v := a.(type) {
				case []byte:
					fmt.Fprintf(&buf, "[]byte(%q)\n", v)
				case uint8:
					fmt.Fprintf(&buf, "byte(%d)\n", v)
				default:
					t.Fatalf("type %T", a)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
