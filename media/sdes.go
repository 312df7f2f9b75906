package media

import "encoding/binary"

// RTCP source description (SDES, RFC 3550 §6.5): how vox tells a listener
// which participant each SSRC it receives belongs to (docs/protocol.md,
// "Who is talking"). Each chunk names one SSRC with a CNAME item (the
// participant id) and, when the admission gave one, a NAME item (the
// display name).

// SDES item types (RFC 3550 §6.5).
const (
	SDESEnd   uint8 = 0
	SDESCNAME uint8 = 1
	SDESName  uint8 = 2
)

// MaxSDESChunks is the most chunks one SDES packet holds (the 5-bit SC).
const MaxSDESChunks = 31

// SDESChunkSize is the size of the chunk AppendSDESChunk writes for cname
// and name: the SSRC, the items, the terminating null and the padding to a
// 32-bit boundary.
func SDESChunkSize(cname, name string) int {
	n := 4 + 2 + len(cname) + 1
	if name != "" {
		n += 2 + len(name)
	}
	return (n + 3) &^ 3
}

// BeginSDES appends the header of an SDES packet with no chunks yet to dst;
// the caller appends up to MaxSDESChunks chunks (AppendSDESChunk) and then
// calls EndSDES with the offset BeginSDES returned (where the packet
// starts) and the chunk count. No allocation if dst has the capacity.
func BeginSDES(dst []byte) ([]byte, int) {
	return append(dst, 0x80, RTCPTypeSDES, 0, 0), len(dst)
}

// AppendSDESChunk appends a chunk for ssrc with a CNAME item and, when name
// is not empty, a NAME item. Each text must be 1..255 bytes (CNAME) or
// 0..255 (NAME): longer ones are cut at 255.
func AppendSDESChunk(dst []byte, ssrc uint32, cname, name string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, ssrc)
	dst = appendSDESItem(dst, SDESCNAME, cname)
	if name != "" {
		dst = appendSDESItem(dst, SDESName, name)
	}
	dst = append(dst, 0) // end of the item list
	for len(dst)%4 != 0 {
		dst = append(dst, 0)
	}
	return dst
}

func appendSDESItem(dst []byte, typ uint8, text string) []byte {
	if len(text) > 255 {
		text = text[:255]
	}
	dst = append(dst, typ, byte(len(text)))
	return append(dst, text...)
}

// EndSDES finishes the SDES packet that starts at dst[start:]: its chunk
// count (at most MaxSDESChunks) and length. The packet must start at a
// 32-bit-aligned offset from the compound's start, as every RTCP packet
// does.
func EndSDES(dst []byte, start, count int) []byte {
	dst[start] = 0x80 | byte(count)&0x1F
	binary.BigEndian.PutUint16(dst[start+2:start+4], uint16((len(dst)-start)/4-1))
	return dst
}

// SDESChunk is one chunk of a parsed SDES packet. Its slices alias the
// packet; absent items are nil.
type SDESChunk struct {
	SSRC  uint32
	CNAME []byte
	Name  []byte
}

// SDESIter walks the chunks of an SDES packet without allocating. Use it
// like RTCPIter: for it.Next() { c := it.Chunk() }; then it.Err().
type SDESIter struct {
	b     []byte
	left  int // chunks still announced by SC
	cur   SDESChunk
	err   error
	valid bool
}

// NewSDESIter returns an iterator over the chunks of p, an SDES packet
// (ErrWrongPacketType from Err otherwise).
func NewSDESIter(p RTCPPacket) SDESIter {
	if p.Type != RTCPTypeSDES {
		return SDESIter{err: ErrWrongPacketType}
	}
	return SDESIter{b: p.Body, left: int(p.Count), valid: true}
}

// Next parses the next chunk; false at the end or on an error (Err). Items
// of types other than CNAME and NAME are skipped; a chunk must end with a
// null item type and be padded to 32 bits within the packet.
func (it *SDESIter) Next() bool {
	if !it.valid || it.left == 0 || it.err != nil {
		return false
	}
	b := it.b
	if len(b) < 8 { // SSRC + at least the null item, padded
		it.err = ErrTooShort
		return false
	}
	c := SDESChunk{SSRC: binary.BigEndian.Uint32(b[0:4])}
	off := 4
	for {
		if off >= len(b) {
			it.err = ErrMalformed
			return false
		}
		typ := b[off]
		if typ == SDESEnd {
			off++
			break
		}
		if off+2 > len(b) || off+2+int(b[off+1]) > len(b) {
			it.err = ErrMalformed
			return false
		}
		text := b[off+2 : off+2+int(b[off+1]) : off+2+int(b[off+1])]
		switch typ {
		case SDESCNAME:
			c.CNAME = text
		case SDESName:
			c.Name = text
		}
		off += 2 + len(text)
	}
	off = (off + 3) &^ 3
	if off > len(b) {
		it.err = ErrMalformed
		return false
	}
	it.b = b[off:]
	it.left--
	it.cur = c
	return true
}

// Chunk returns the chunk Next parsed.
func (it *SDESIter) Chunk() SDESChunk { return it.cur }

// Err returns the first error met, nil at a clean end.
func (it *SDESIter) Err() error { return it.err }
