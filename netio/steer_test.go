package netio

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
)

func rtpPacket(ssrc uint32, seq uint16, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x80
	b[1] = 111 // Opus dynamic PT
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*960)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

func rtcpPacket(ssrc uint32, typ byte) []byte {
	b := make([]byte, 8)
	b[0] = 0x80
	b[1] = typ
	binary.BigEndian.PutUint16(b[2:], 1)
	binary.BigEndian.PutUint32(b[4:], ssrc)
	return b
}

func runSteer(t testing.TB, vm *bpf.VM, b []byte, n uint32) (uint32, bool) {
	t.Helper()
	out, err := vm.Run(b)
	if err != nil {
		t.Fatalf("vm: %v", err)
	}
	if uint32(out) == steerHash {
		return 0, false
	}
	if uint32(out) >= n {
		t.Fatalf("program returned %d for %d shards", out, n)
	}
	return uint32(out), true
}

func TestSteerProgramMatchesModel(t *testing.T) {
	for _, n := range []uint32{1, 2, 3, 7, 64} {
		vm, err := bpf.NewVM(steerProgram(n))
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name     string
			b        []byte
			wantOK   bool
			wantSSRC uint32
		}{
			{"rtp", rtpPacket(0xdeadbeef, 1, 120), true, 0xdeadbeef},
			{"rtp min", rtpPacket(12345, 1, 12), true, 12345},
			{"rtp 11 bytes", rtpPacket(12345, 1, 12)[:11], false, 0},
			{"rtcp sr", rtcpPacket(0xcafef00d, 200), true, 0xcafef00d},
			{"rtcp rr", rtcpPacket(77, 201), true, 77},
			{"rtcp bye", rtcpPacket(78, 203), true, 78},
			{"rtcp app", rtcpPacket(79, 204), true, 79},
			{"rtcp low edge 192", rtcpPacket(80, 192), true, 80},
			{"rtcp high edge 223", rtcpPacket(81, 223), true, 81},
			{"rtp pt 224 with marker", append(rtcpPacket(1, 224), 0, 0, 0, 9), true, 9},
			{"rtcp 7 bytes", rtcpPacket(5, 201)[:7], false, 0},
			{"empty", nil, false, 0},
			{"version 0", []byte{0x00, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2}, false, 0},
			{"version 3 (dtls/zrtp space)", []byte{0xC0, 111, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2}, false, 0},
			{"stun", []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4}, false, 0},
		}
		for _, c := range cases {
			got, ok := runSteer(t, vm, c.b, n)
			mGot, mOK := steerModel(c.b, n)
			if ok != c.wantOK || mOK != c.wantOK {
				t.Fatalf("n=%d %s: program ok=%v model ok=%v want %v", n, c.name, ok, mOK, c.wantOK)
			}
			if ok && (got != c.wantSSRC%n || mGot != got) {
				t.Fatalf("n=%d %s: program %d model %d want %d", n, c.name, got, mGot, c.wantSSRC%n)
			}
			if ok && int(got) != ShardOf(c.wantSSRC, int(n)) {
				t.Fatalf("n=%d %s: ShardOf disagrees", n, c.name)
			}
		}
	}
}

// FuzzSteer checks that the BPF program the kernel runs and its Go model
// agree on every input, for several shard counts.
func FuzzSteer(f *testing.F) {
	f.Add(rtpPacket(0xdeadbeef, 7, 60), uint8(2))
	f.Add(rtcpPacket(42, 201), uint8(3))
	f.Add(append(rtcpPacket(42, 200), rtcpPacket(43, 202)...), uint8(5)) // compound SR+SDES
	f.Add([]byte{0x80}, uint8(2))
	f.Add([]byte{0x80, 200, 0, 1, 1, 2, 3}, uint8(2))
	f.Add([]byte{0x17, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(4)) // DTLS
	vms := map[uint32]*bpf.VM{}
	f.Fuzz(func(t *testing.T, b []byte, nb uint8) {
		n := uint32(nb%MaxShards) + 1
		vm := vms[n]
		if vm == nil {
			var err error
			if vm, err = bpf.NewVM(steerProgram(n)); err != nil {
				t.Fatal(err)
			}
			vms[n] = vm
		}
		got, ok := runSteer(t, vm, b, n)
		want, wantOK := steerModel(b, n)
		if ok != wantOK || got != want {
			t.Fatalf("n=%d % x: program (%d,%v) model (%d,%v)", n, b, got, ok, want, wantOK)
		}
	})
}
