package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/srtp/v3"
)

// FuzzInbound drives an Inbound with a program of genuine SRTP and SRTCP
// packets at arbitrary indexes (any ROC and sequence number, any SRTCP
// index: replay window edges, rollover, the index limits), replays,
// flipped bytes and arbitrary datagrams, against a model of the replay
// window:
//
//   - a packet that fails changes nothing (our windows and pion's ROC and
//     SRTCP index state);
//
//   - arbitrary bytes and flipped packets never authenticate;
//
//   - an accepted packet decrypts to what was sent, and its index had not
//     been accepted before and is inside the window;
//
//   - SRTCP: accepted exactly when the model says (the index is explicit);
//
//   - SRTP: the next index after the highest is always accepted.
//
//     go test ./media -run '^$' -fuzz '^FuzzInbound$' -fuzztime 60s -parallel 1
func FuzzInbound(f *testing.F) {
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 2048 {
			return
		}
		fz := newInboundFuzz(t, prog)
		fz.run()
	})
}

const fuzzSSRC = 0x5eed0001

type inboundFuzz struct {
	t       *testing.T
	r       []byte
	profile Profile
	in      *Inbound
	send    *srtp.Context // the client: raw pion, to choose every index

	rtpSeen, rtcpSeen     map[uint64]bool
	rtpLatest, rtcpLatest uint64
	rtpAny, rtcpAny       bool
	sent                  [][]byte // genuine packets, for replays
}

func newInboundFuzz(t *testing.T, prog []byte) *inboundFuzz {
	fz := &inboundFuzz{t: t, r: prog, rtpSeen: map[uint64]bool{}, rtcpSeen: map[uint64]bool{}}
	fz.profile = Profiles()[int(fz.byte())%len(Profiles())]
	k := Keys{Key: bytes.Repeat([]byte{0x42}, fz.profile.KeyLen()), Salt: bytes.Repeat([]byte{0x17}, fz.profile.SaltLen())}
	var err error
	if fz.in, err = NewInbound(fz.profile, k); err != nil {
		t.Fatal(err)
	}
	if fz.send, err = srtp.CreateContext(k.Key, k.Salt, fz.profile.pion()); err != nil {
		t.Fatal(err)
	}
	return fz
}

func (fz *inboundFuzz) byte() byte {
	if len(fz.r) == 0 {
		return 0
	}
	b := fz.r[0]
	fz.r = fz.r[1:]
	return b
}

func (fz *inboundFuzz) u32() uint32 {
	return uint32(fz.byte())<<24 | uint32(fz.byte())<<16 | uint32(fz.byte())<<8 | uint32(fz.byte())
}

// windowState is what a failed packet must leave as it was.
type windowState struct {
	stored, any bool
	latest      uint64
	mask        [2]uint64
}

type inboundState struct {
	rtp, rtcp map[uint32]windowState
	roc       uint32
	rocOK     bool
	srtcpIdx  uint32
	srtcpOK   bool
}

func (fz *inboundFuzz) state() inboundState {
	in := fz.in
	// (in.lastRTP and in.lastRTCP are a lookup cache: a failed packet may
	// move them to a window of its SSRC.)
	s := inboundState{rtp: map[uint32]windowState{}, rtcp: map[uint32]windowState{}}
	for k, w := range in.rtpWindows {
		s.rtp[k] = windowState{w.stored, w.any, w.latest, w.mask}
	}
	for k, w := range in.rtcpWindows {
		s.rtcp[k] = windowState{w.stored, w.any, w.latest, w.mask}
	}
	s.roc, s.rocOK = in.ctx.ROC(fuzzSSRC)
	s.srtcpIdx, s.srtcpOK = in.ctx.Index(fuzzSSRC)
	return s
}

func (fz *inboundFuzz) same(what string, before inboundState) {
	after := fz.state()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		fz.t.Fatalf("%s changed the Inbound:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// inWindow: the model's view of whether index is acceptable.
func inWindow(seen map[uint64]bool, any bool, latest, index uint64) bool {
	if seen[index] {
		return false
	}
	return !any || index > latest || latest-index < ReplayWindow
}

func (fz *inboundFuzz) run() {
	for step := 0; len(fz.r) > 0 && step < 100; step++ {
		switch fz.byte() % 8 {
		case 0: // genuine RTP at a chosen distance from the highest index
			d := int64(int16(uint16(fz.byte())<<8|uint16(fz.byte()))) % 300
			fz.genuineRTP(uint64(int64(fz.rtpLatest) + d))
		case 1: // genuine RTP at an arbitrary index (ROC and sequence number)
			fz.genuineRTP(uint64(fz.u32())<<16 | uint64(fz.byte())<<8 | uint64(fz.byte()))
		case 2: // genuine SRTCP at a chosen distance from the highest index
			d := int64(int16(uint16(fz.byte())<<8|uint16(fz.byte()))) % 300
			fz.genuineRTCP(uint64(int64(fz.rtcpLatest) + d))
		case 3: // genuine SRTCP at an arbitrary index
			fz.genuineRTCP(uint64(fz.u32()))
		case 4: // a replay
			if len(fz.sent) > 0 {
				fz.forgery("replay", bytes.Clone(fz.sent[int(fz.byte())%len(fz.sent)]))
			}
		case 5: // a genuine packet with a byte changed
			if len(fz.sent) > 0 {
				b := bytes.Clone(fz.sent[int(fz.byte())%len(fz.sent)])
				b[int(fz.byte())%len(b)] ^= fz.byte() | 1
				fz.forgery("flipped", b)
			}
		case 6: // a genuine packet cut or extended
			if len(fz.sent) > 0 {
				b := bytes.Clone(fz.sent[int(fz.byte())%len(fz.sent)])
				n := int(fz.byte())
				if n&1 == 0 {
					b = b[:n/2%len(b)]
				} else {
					b = append(b, bytes.Repeat([]byte{byte(n)}, n/2+1)...)
				}
				fz.forgery("cut or extended", b)
			}
		default: // arbitrary bytes
			n := min(int(fz.byte()), len(fz.r))
			b := bytes.Clone(fz.r[:n])
			fz.r = fz.r[n:]
			if len(b) >= 12 && fz.byte()&1 == 1 {
				binary.BigEndian.PutUint32(b[8:], fuzzSSRC) // RTP with our SSRC
			} else if len(b) >= 8 {
				binary.BigEndian.PutUint32(b[4:], fuzzSSRC) // RTCP with our SSRC
			}
			fz.forgery("arbitrary bytes", b)
		}
	}
}

// forgery: b must fail as RTP and as RTCP, changing nothing.
func (fz *inboundFuzz) forgery(what string, b []byte) {
	before := fz.state()
	if _, _, err := fz.in.DecryptRTP(bytes.Clone(b)); err == nil {
		fz.t.Fatalf("%s authenticated as SRTP: %x", what, b)
	}
	fz.same(what+" as SRTP", before)
	if _, err := fz.in.DecryptRTCP(bytes.Clone(b)); err == nil {
		fz.t.Fatalf("%s authenticated as SRTCP: %x", what, b)
	}
	fz.same(what+" as SRTCP", before)
}

func (fz *inboundFuzz) genuineRTP(index uint64) {
	index &= maxSRTPIndex
	roc, seq := uint32(index>>16), uint16(index)
	fz.send.SetROC(fuzzSSRC, roc)
	plain := AppendRTPHeader(nil, RTPFields{PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(index) * 960, SSRC: fuzzSSRC})
	plain = append(plain, byte(index), byte(index>>8), byte(index>>16), 0xAA)
	enc, err := fz.send.EncryptRTP(nil, plain, nil)
	if err != nil {
		fz.t.Fatal(err)
	}
	fz.sent = append(fz.sent, bytes.Clone(enc))
	before := fz.state()
	next := fz.rtpAny && index == fz.rtpLatest+1 || !fz.rtpAny && roc == 0
	got, _, err := fz.in.DecryptRTP(enc)
	if err != nil {
		fz.same(fmt.Sprintf("a rejected SRTP index %#x (%v)", index, err), before)
		if next {
			fz.t.Fatalf("SRTP index %#x after %#x (any %v) rejected: %v", index, fz.rtpLatest, fz.rtpAny, err)
		}
		return
	}
	if !bytes.Equal(got, plain) {
		fz.t.Fatalf("SRTP index %#x decrypted to %x, sent %x", index, got, plain)
	}
	if !inWindow(fz.rtpSeen, fz.rtpAny, fz.rtpLatest, index) {
		fz.t.Fatalf("SRTP index %#x accepted: seen %v, highest %#x", index, fz.rtpSeen[index], fz.rtpLatest)
	}
	fz.rtpSeen[index] = true
	if !fz.rtpAny || index > fz.rtpLatest {
		fz.rtpLatest, fz.rtpAny = index, true
	}
}

func (fz *inboundFuzz) genuineRTCP(index uint64) {
	index %= maxSRTCPIndex // 0 .. 2^31-2: pion refuses to send the last index
	if index == 0 {
		index = 1 // pion sends from index 1 (SetIndex(0) is the state before the first)
	}
	fz.send.SetIndex(fuzzSSRC, uint32(index-1))
	plain, err := AppendReceiverReport(nil, fuzzSSRC, ReportBlock{SSRC: uint32(index), ExtHighestSeq: uint32(index)})
	if err != nil {
		fz.t.Fatal(err)
	}
	enc, err := fz.send.EncryptRTCP(nil, plain, nil)
	if err != nil {
		fz.t.Fatal(err)
	}
	fz.sent = append(fz.sent, bytes.Clone(enc))
	before := fz.state()
	want := inWindow(fz.rtcpSeen, fz.rtcpAny, fz.rtcpLatest, index)
	got, err := fz.in.DecryptRTCP(enc)
	if err != nil {
		fz.same(fmt.Sprintf("a rejected SRTCP index %#x (%v)", index, err), before)
		if want {
			fz.t.Fatalf("SRTCP index %#x (highest %#x) rejected: %v", index, fz.rtcpLatest, err)
		}
		return
	}
	if !want {
		fz.t.Fatalf("SRTCP index %#x accepted: seen %v, highest %#x", index, fz.rtcpSeen[index], fz.rtcpLatest)
	}
	if !bytes.Equal(got, plain) {
		fz.t.Fatalf("SRTCP index %#x decrypted to %x, sent %x", index, got, plain)
	}
	fz.rtcpSeen[index] = true
	if !fz.rtcpAny || index > fz.rtcpLatest {
		fz.rtcpLatest, fz.rtcpAny = index, true
	}
}

// inboundFuzzSeeds: window edges (127 and 128 behind), rollover, the
// index limits, replays and flips.
func inboundFuzzSeeds() [][]byte {
	return [][]byte{
		{0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 4, 0},
		{1, 1, 0, 0, 0, 0, 0xff, 0xf0, 0, 0, 0x20, 0, 0, 0x00, 0xff, 0xff, 0},
		// 200 ahead, then 127 and 128 behind it.
		{0, 0, 0, 0, 0, 0, 0xc8, 0, 0xff, 0x81, 0, 0xff, 0x80, 4, 1},
		{1, 2, 0, 0, 2, 0, 0xc8, 2, 0xff, 0x81, 2, 0xff, 0x80, 4, 0, 4, 1},
		{0, 3, 0x7f, 0xff, 0xff, 0xfe, 2, 0, 1, 3, 0x7f, 0xff, 0xff, 0xff},
		{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe},
		{0, 0, 0, 5, 5, 0, 3, 7, 6, 0, 8, 6, 0, 9},
		{1, 7, 20, 0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1},
		{0, 7, 12, 0x81, 200, 0, 1, 0, 0, 0, 0, 0x80, 0, 0, 1, 0},
	}
}

func TestWriteInboundFuzzCorpus(t *testing.T) {
	if os.Getenv("VOX_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set VOX_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzInbound")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzInbound")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range inboundFuzzSeeds() {
		b := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
