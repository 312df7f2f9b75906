package ctest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// TestCParsers feeds the C library's parsers (the admission JSON reader,
// the RTP and the compound RTCP receive paths after SRTP: extensions,
// CSRCs, padding, SDES, BYE, APP) thousands of valid, mutated and random
// inputs, deterministically (a fixed seed), in the AddressSanitizer +
// UBSan build: any out-of-bounds access or undefined behaviour fails.
func TestCParsers(t *testing.T) {
	_, asan := build(t)
	rng := rand.New(rand.NewPCG(15, 2026))

	adm := api.Admission{SessionID: "s-1", ParticipantID: "p.1", SSRC: 1, ServerSSRC: 2,
		Media: api.MediaAddr{Address: "::1", Port: 7000},
		SRTP: api.SRTPKeys{Profile: "AEAD_AES_128_GCM", ClientToServer: api.Keys{Key: make([]byte, 16), Salt: make([]byte, 12)},
			ServerToClient: api.Keys{Key: bytes.Repeat([]byte{7}, 16), Salt: bytes.Repeat([]byte{9}, 12)}},
		AudioLevelExtensionID: 1, JoinTimeoutMS: 1000, IdleTimeoutMS: 2000}
	admJSON, _ := json.Marshal(adm)
	admJSON = append(admJSON[:len(admJSON)-1], []byte(`,"extra":{"a":[1,2.5e3,true,null,"\u00e9\ud83d\ude00"]}}`)...)

	rtp, _ := media.AppendRTPHeaderWithAudioLevel(nil, media.RTPFields{PayloadType: 111, SequenceNumber: 9, SSRC: 5}, 1, 30, true)
	rtp = append(rtp, 0x78, 0x01, 0x02, 0x03)
	mixed := media.AppendRTPHeaderCSRC(nil, media.RTPFields{PayloadType: 111, SequenceNumber: 3, SSRC: 2}, []uint32{5, 6, 7})
	mixed = append(mixed, 0xF8, 0xFF, 0xFE)
	padded := append(append([]byte(nil), rtp...), 0, 0, 3)
	padded[0] |= 0x20

	rr, _ := media.AppendReceiverReport(nil, 2)
	sdes, start := media.BeginSDES(append([]byte(nil), rr...))
	sdes = media.AppendSDESChunk(sdes, 5, "alice", "Alice")
	sdes = media.AppendSDESChunk(sdes, 2, "mix:s-1", "mix")
	sdes = media.EndSDES(sdes, start, 2)
	bye, _ := media.AppendBye(append([]byte(nil), rr...), 5, 6)
	notice := media.AppendReconnectNotice(append([]byte(nil), rr...), media.ReconnectNotice{SSRC: 2, Reason: 1, WindowMS: 5})

	type seed struct {
		kind byte
		b    []byte
	}
	seeds := []seed{{0, admJSON}, {1, rtp}, {1, mixed}, {1, padded}, {2, sdes}, {2, bye}, {2, notice}, {2, rr}}
	var in bytes.Buffer
	records := 0
	add := func(kind byte, b []byte) {
		if len(b) > 65535 {
			b = b[:65535]
		}
		in.WriteByte(kind)
		in.Write(binary.BigEndian.AppendUint16(nil, uint16(len(b))))
		in.Write(b)
		records++
	}
	for _, s := range seeds {
		add(s.kind, s.b)
		for i := range len(s.b) + 1 { // every truncation
			add(s.kind, s.b[:i])
		}
	}
	for range 20000 {
		s := seeds[rng.IntN(len(seeds))]
		b := append([]byte(nil), s.b...)
		for range 1 + rng.IntN(4) {
			switch op := rng.IntN(5); {
			case op == 0 && len(b) > 0: // flip a bit
				b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
			case op == 1 && len(b) > 0: // set a byte
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			case op == 2 && len(b) > 0: // cut
				b = b[:rng.IntN(len(b))]
			case op == 3: // insert
				i := rng.IntN(len(b) + 1)
				b = append(b[:i], append([]byte{byte(rng.IntN(256))}, b[i:]...)...)
			default: // a special value somewhere
				if len(b) > 0 {
					b[rng.IntN(len(b))] = []byte{0, 0xFF, 0x7F, 0x80, '"', '\\', '{', '}'}[rng.IntN(8)]
				}
			}
		}
		add(s.kind, b)
	}
	for range 2000 { // plain random
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		add(byte(rng.IntN(3)), b)
	}

	cmd := exec.Command(asan, "fuzz")
	cmd.Stdin = &in
	cmd.Env = append(cmd.Environ(), "ASAN_OPTIONS=detect_leaks=1", "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || strings.Contains(stderr.String(), "Sanitizer") || strings.Contains(stderr.String(), "runtime error") {
		t.Fatalf("voxc fuzz (ASan): %v\n%s", err, stderr.String())
	}
	t.Logf("%d records: %s", records, strings.TrimSpace(stdout.String()))
	var n, ok int
	if _, err := fmtSscanf(stdout.String(), &n, &ok); err != nil || n != records || ok < 1 {
		t.Fatalf("voxc fuzz: %q (want %d records, the valid admission accepted)", stdout.String(), records)
	}
}

func fmtSscanf(s string, n, ok *int) (int, error) {
	return fmt.Sscanf(s, "FUZZ records=%d admissions_ok=%d", n, ok)
}
