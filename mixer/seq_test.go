package mixer

import (
	"testing"

	"github.com/voxfleet/vox/media"
)

// op is one source packet: its seq and whether it is sent (else withheld).
type op struct {
	seq  uint16
	send bool
}

func run(r *SeqRewriter, ops []op) []int {
	var out []int
	for _, o := range ops {
		if !o.send {
			r.Skip(o.seq)
			continue
		}
		if s, ok := r.Forward(o.seq); ok {
			out = append(out, int(s))
		} else {
			out = append(out, -1)
		}
	}
	return out
}

func TestSeqRewriter(t *testing.T) {
	for _, c := range []struct {
		name string
		ops  []op
		want []int // -1: dropped
	}{
		{"plain", []op{{10, true}, {11, true}, {12, true}}, []int{10, 11, 12}},
		{"withheld run", []op{{10, true}, {11, false}, {12, false}, {13, true}, {14, true}}, []int{10, 11, 12}},
		{"loss stays a gap", []op{{10, true}, {12, true}, {13, false}, {15, true}}, []int{10, 12, 14}},
		{"loss then withheld", []op{{10, true}, {12, false}, {13, true}}, []int{10, 12}},
		{"withheld before first", []op{{5, false}, {6, false}, {7, true}, {8, true}}, []int{7, 8}},
		{"late fills a loss gap", []op{{10, true}, {12, true}, {11, true}, {13, true}}, []int{10, 12, 11, 13}},
		{"late across a withheld run dropped", []op{{10, true}, {12, false}, {13, true}, {11, true}, {14, true}}, []int{10, 12, -1, 13}},
		{"late after run, in new range", []op{{10, true}, {11, false}, {12, true}, {14, true}, {13, true}}, []int{10, 11, 13, 12}},
		{"too late", []op{{5000, true}, {3000, true}, {5001, true}}, []int{5000, -1, 5001}},
		{"wrap", []op{{65534, true}, {65535, false}, {0, false}, {1, true}, {2, true}}, []int{65534, 65535, 0}},
		{"late withheld", []op{{10, true}, {12, true}, {11, false}, {13, true}}, []int{10, 12, 13}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r SeqRewriter
			got := run(&r, c.ops)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

// A listener whose stream is withheld in bursts across the 16-bit wrap
// decrypts every packet it is sent with its ordinary inbound context: the
// rewritten sequence numbers keep its rollover counter right.
func TestSeqRewriterSRTPWrap(t *testing.T) {
	for _, p := range media.Profiles() {
		keys, err := media.GenerateKeys(p)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := media.NewOutbound(p, keys)
		in, _ := media.NewInbound(p, keys)
		var r SeqRewriter
		src := uint16(60000)
		sent, lastOut := 0, -1
		var prev uint16
		plain := make([]byte, 0, 200)
		for i := range 3 * 65536 / 2 {
			seq := src
			src++
			withhold := (i/50)%3 == 1 // 50 sent, 50 withheld, ...
			if i%997 == 500 {
				continue // a real loss at the source
			}
			if withhold {
				r.Skip(seq)
				continue
			}
			o, ok := r.Forward(seq)
			if !ok {
				t.Fatal("dropped an in-order packet")
			}
			if lastOut >= 0 && o != prev+1 && o != prev+2 {
				t.Fatalf("%s: out %d after %d", p, o, prev)
			}
			prev, lastOut = o, int(o)
			plain = media.AppendRTPHeader(plain[:0], media.RTPFields{PayloadType: 111, SequenceNumber: o,
				Timestamp: uint32(seq) * 960, SSRC: 42})
			plain = append(plain, byte(i), byte(i>>8), byte(i>>16))
			enc, err := out.EncryptRTP(nil, plain)
			if err != nil {
				t.Fatal(err)
			}
			dec, h, err := in.DecryptRTP(enc)
			if err != nil {
				t.Fatalf("%s: packet %d (out seq %d): %v", p, i, o, err)
			}
			if h.SequenceNumber != o || len(dec) != len(plain) || dec[len(dec)-3] != byte(i) {
				t.Fatalf("%s: packet %d decrypted wrong", p, i)
			}
			sent++
		}
		if sent < 60000 {
			t.Fatalf("%s: only %d sent", p, sent)
		}
	}
}

func TestSeqRewriterZeroAllocs(t *testing.T) {
	var r SeqRewriter
	seq := uint16(0)
	if a := testing.AllocsPerRun(1000, func() {
		seq++
		if seq%3 == 0 {
			r.Skip(seq)
		} else {
			r.Forward(seq)
		}
	}); a != 0 {
		t.Errorf("%.1f allocs", a)
	}
}

// A late packet that fills a loss gap just before the wrap, sent after the
// wrap, still decrypts (the SRTP index estimate takes the previous ROC).
func TestSeqRewriterLateAcrossWrap(t *testing.T) {
	keys, _ := media.GenerateKeys(media.DefaultProfile)
	out, _ := media.NewOutbound(media.DefaultProfile, keys)
	in, _ := media.NewInbound(media.DefaultProfile, keys)
	var r SeqRewriter
	r.Forward(65000)
	r.Skip(65001) // offset 1 from here on
	for _, c := range []struct{ src, want uint16 }{{65530, 65529}, {65532, 65531}, {1, 0}, {2, 1}, {65531, 65530}, {3, 2}} {
		o, ok := r.Forward(c.src)
		if !ok || o != c.want {
			t.Fatalf("Forward(%d) = %d %v, want %d", c.src, o, ok, c.want)
		}
		plain := media.AppendRTPHeader(nil, media.RTPFields{PayloadType: 111, SequenceNumber: o, SSRC: 7})
		plain = append(plain, byte(c.src))
		enc, err := out.EncryptRTP(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		dec, _, err := in.DecryptRTP(enc)
		if err != nil || dec[len(dec)-1] != byte(c.src) {
			t.Fatalf("seq %d (source %d): %v", o, c.src, err)
		}
	}
}
