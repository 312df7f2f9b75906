package netio

import "golang.org/x/net/bpf"

// SSRC steering.
//
// The kernel runs steerProgram (classic BPF, SO_ATTACH_REUSEPORT_CBPF) on the
// UDP payload of every datagram for the port and delivers it to the socket
// whose index in the reuseport group the program returns; shard i is the
// i-th socket bound, so the index is the shard. An out-of-range answer makes
// the kernel fall back to its 4-tuple hash.
//
//	byte 0        byte 1        RTP  (RFC 3550)          RTCP (RFC 3550)
//	+-+-+-+-+-+-+-+-+-+-+-+-+     bytes 8..11 = SSRC       bytes 4..7 = SSRC of
//	|V=2|P|X/RC...|M|PT / RTCP type|   of the sender           the first packet's sender
//	+-+-+-+-+-+-+-+-+-+-+-+-+
//	version == 2 and byte 1 in 192..223 ⇒ RTCP (RFC 5761 §4), else RTP.
//
// RTP needs 12 bytes, RTCP 8; anything shorter, or not version 2, is hashed.
// steerModel is the same decision in Go, checked against the program by a
// fuzz test running both.

// ShardOf returns the shard that receives the packets of ssrc when the
// server has n shards and steering is on.
func ShardOf(ssrc uint32, n int) int {
	if n <= 1 {
		return 0
	}
	return int(ssrc % uint32(n))
}

// steerHash is the program's "let the kernel hash it" answer.
const steerHash = 0xFFFFFFFF

// steerModel is the Go model of steerProgram: the shard index for b and
// true, or false when the kernel should hash.
func steerModel(b []byte, n uint32) (uint32, bool) {
	if len(b) < 8 || b[0]&0xC0 != 0x80 {
		return 0, false
	}
	if b[1] >= 192 && b[1] <= 223 {
		return be32(b[4:]) % n, true
	}
	if len(b) < 12 {
		return 0, false
	}
	return be32(b[8:]) % n, true
}

func be32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// steerProgram returns the classic BPF program for n shards.
func steerProgram(n uint32) []bpf.Instruction {
	return []bpf.Instruction{
		/* 0 */ bpf.LoadExtension{Num: bpf.ExtLen},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 8, SkipTrue: 14}, // -> hash
		/* 2 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 3 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xC0},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x80, SkipTrue: 11}, // -> hash
		/* 5 */ bpf.LoadAbsolute{Off: 1, Size: 1},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 192, SkipTrue: 4}, // -> rtp
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 223, SkipTrue: 3}, // -> rtp
		/* 8 */ bpf.LoadAbsolute{Off: 4, Size: 4}, // RTCP sender SSRC
		/* 9 */ bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: n},
		/* 10 */ bpf.RetA{},
		/* 11 rtp */ bpf.LoadExtension{Num: bpf.ExtLen},
		/* 12 */ bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 12, SkipTrue: 3}, // -> hash
		/* 13 */ bpf.LoadAbsolute{Off: 8, Size: 4}, // RTP SSRC
		/* 14 */ bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: n},
		/* 15 */ bpf.RetA{},
		/* 16 hash */ bpf.RetConstant{Val: steerHash},
	}
}
