package media

import "encoding/binary"

// MaxCSRCs is the most contributing sources an RTP header lists (the 4-bit
// CC field).
const MaxCSRCs = 15

// AppendRTPHeaderCSRC appends an RTP header with the contributing sources
// csrcs (RFC 3550 §5.1: the mixer's CSRC list; at most MaxCSRCs, the rest
// are left out) and no extension: 12 + 4×len bytes. vox's mixed stream
// lists in it the participants whose voice is in the packet. It allocates
// only if dst lacks capacity.
func AppendRTPHeaderCSRC(dst []byte, f RTPFields, csrcs []uint32) []byte {
	if len(csrcs) > MaxCSRCs {
		csrcs = csrcs[:MaxCSRCs]
	}
	start := len(dst)
	dst = appendFixedHeader(dst, f, false)
	dst[start] |= byte(len(csrcs))
	for _, c := range csrcs {
		dst = binary.BigEndian.AppendUint32(dst, c)
	}
	return dst
}
