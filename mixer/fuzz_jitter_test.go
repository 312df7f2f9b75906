package mixer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// seqDec "decodes" a packet into a frame holding its first two bytes (the
// fuzz harness writes the sequence number there) and fails on a packet
// whose third byte is 0xEE; FEC gives the next packet's value with the top
// bit set; PLC gives -1.
type seqDec struct{}

func (seqDec) Decode(p []byte, pcm []int16) (int, error) {
	v := int16(-1)
	if p != nil {
		if len(p) > 2 && p[2] == 0xEE {
			return 0, errors.New("bad packet")
		}
		v = int16(binary.BigEndian.Uint16(p))
	}
	for i := range pcm {
		pcm[i] = v
	}
	return len(pcm), nil
}

func (seqDec) DecodeFEC(p []byte, pcm []int16) (int, error) {
	for i := range pcm {
		pcm[i] = int16(binary.BigEndian.Uint16(p)) | -0x8000
	}
	return len(pcm), nil
}

// FuzzJitterBuffer pushes arbitrary sequence number, timestamp, arrival
// and size streams into a jitter buffer and pulls frames in between.
// Properties: no panic; the ring's books (count, the slots' sequence
// numbers ahead of the next frame, the target depth) stay consistent; the
// frames decoded follow the stream's order (no packet plays twice, none
// plays after a later one) until a resynchronisation or a new talk spurt;
// a decoded frame is the packet pushed with its sequence number; nothing
// is consumed more often than it was received.
//
//	go test ./mixer -run '^$' -fuzz '^FuzzJitterBuffer$' -fuzztime 60s -parallel 1
func FuzzJitterBuffer(f *testing.F) {
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 8192 {
			return
		}
		jb := newJitterBuffer(seqDec{})
		var (
			seq     uint16
			ts      uint32
			arrival int64
			pcm     [FrameSamples]int16
			last    int // last decoded sequence number, -1: none since a restart
			resyncs uint64
		)
		last = -1
		r := prog
		next := func() byte {
			if len(r) == 0 {
				return 0
			}
			b := r[0]
			r = r[1:]
			return b
		}
		for step := 0; len(r) > 0 && step < 2000; step++ {
			op := next()
			switch op % 4 {
			case 0, 1: // push: a sequence step, a timestamp step, an arrival step, a size
				seq += uint16(int16(int8(next())))
				if op&0x10 != 0 {
					seq += uint16(next()) << 8 // a jump
				}
				ts += uint32(int32(int8(next()))) * 960
				arrival += int64(next()) * 1_000_000
				if op&0x20 != 0 {
					arrival -= int64(next()) * 1_000_000 // the clock is any monotonic one, but arrivals may look reordered
				}
				size := int(next())
				switch {
				case op&0x40 != 0:
					size = MaxOpusPacket + int(next()) - 100 // around the limit
				case op&0x80 != 0:
					size %= 3 // empty or DTX
				}
				p := make([]byte, max(size, 0))
				if len(p) >= 2 {
					binary.BigEndian.PutUint16(p, seq)
				}
				if len(p) > 2 && next()&7 == 0 {
					p[2] = 0xEE
				}
				if os.Getenv("JBTRACE") != "" {
					t.Logf("push %d len %d state %d next %d count %d", seq, len(p), jb.state, jb.next, jb.count)
				}
				jb.push(seq, ts, p, arrival)
			default: // pull
				arrival += frameNanos
				for i := range pcm {
					pcm[i] = 0x7EEE
				}
				state, dropped := jb.state, jb.stats.Dropped
				k := jb.pull(pcm[:])
				if os.Getenv("JBTRACE") != "" {
					t.Logf("pull %d %d state %d next %d", k, uint16(pcm[0]), jb.state, jb.next)
				}
				switch k {
				case frameNone:
					if pcm[0] != 0x7EEE {
						t.Fatalf("step %d: frameNone wrote the frame", step)
					}
				case frameDecoded:
					if state == jbIdle {
						last = -1
					}
					v := int(uint16(pcm[0]))
					if last >= 0 && int16(uint16(v)-uint16(last)) <= 0 {
						t.Fatalf("step %d: decoded %d after %d", step, v, last)
					}
					if jb.next != uint16(v)+1 && !(jb.stats.Dropped != dropped && jb.next == uint16(v)+2) {
						t.Fatalf("step %d: decoded %d, next is %d", step, v, jb.next)
					}
					last = v
				case frameFEC, framePLC:
				default:
					t.Fatalf("step %d: frame kind %d", step, k)
				}
				if jb.state == jbIdle {
					last = -1
				}
			}
			if jb.stats.Resyncs != resyncs {
				// Playout restarted at a new place in the stream.
				resyncs, last = jb.stats.Resyncs, -1
			}
			checkJitterBooks(t, jb, step)
		}
	})
}

func checkJitterBooks(t *testing.T, jb *jitterBuffer, step int) {
	t.Helper()
	used := 0
	for i := range jb.slots {
		s := &jb.slots[i]
		if !s.used {
			continue
		}
		used++
		if int(s.seq&(jbSlots-1)) != i {
			t.Fatalf("step %d: seq %d in slot %d", step, s.seq, i)
		}
		if d := int16(s.seq - jb.next); d < 0 || int(d) >= jbSlots {
			t.Fatalf("step %d: slot of seq %d, %d from next %d (state %d)", step, s.seq, d, jb.next, jb.state)
		}
		if s.n < 1 || s.n > MaxOpusPacket {
			t.Fatalf("step %d: slot of %d bytes", step, s.n)
		}
	}
	if used != jb.count {
		t.Fatalf("step %d: %d slots used, count %d", step, used, jb.count)
	}
	if jb.state == jbIdle && jb.count != 0 {
		t.Fatalf("step %d: idle with %d packets", step, jb.count)
	}
	if jb.target < 1 || jb.target > jbMaxDepth {
		t.Fatalf("step %d: target %d", step, jb.target)
	}
	st := jb.stats
	if st.Decoded+st.Silent+st.Dropped+uint64(jb.count) > st.Received {
		t.Fatalf("step %d: consumed more than received: %+v, %d buffered", step, st, jb.count)
	}
}

func jitterFuzzSeeds() [][]byte {
	steady := []byte{}
	for range 40 {
		steady = append(steady, 0, 1, 1, 20, 60, 2) // push seq+1, ts+1, 20 ms, 60 bytes; pull
	}
	return [][]byte{
		steady,
		{0, 1, 1, 20, 60, 2, 2, 0, 3, 3, 20, 60, 0, 255, 255, 5, 60, 2, 2, 2, 2, 2, 2},
		{0x10, 1, 0x80, 1, 20, 60, 2, 0x10, 1, 0x80, 1, 20, 60, 2, 2},
		{0x20, 1, 1, 40, 30, 60, 2, 0x40, 1, 1, 20, 200, 2, 0x80, 1, 1, 20, 1, 2, 2, 2, 2, 2},
		{0, 5, 1, 20, 60, 0, 0, 250, 1, 20, 60, 0, 2, 2, 2, 2, 2, 2, 2},
		{0, 1, 1, 20, 60, 0, 0, 0, 1, 20, 60, 0, 2, 2, 2, 2, 2, 2, 2, 0, 1, 1, 20, 60, 0, 2},
	}
}

func TestWriteJitterFuzzCorpus(t *testing.T) {
	if os.Getenv("VOX_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set VOX_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzJitterBuffer")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzJitterBuffer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range jitterFuzzSeeds() {
		b := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
