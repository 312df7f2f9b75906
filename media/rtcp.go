package media

import (
	"encoding/binary"
	"time"
)

// Vox reconnect notice: an RTCP APP packet (RFC 3550 §6.7) sent by the
// server to one participant, SRTCP-protected with that participant's
// server-to-client keys. The client acts on it only after SRTCP
// authentication succeeds. Exact layout (20 bytes, every field aligned on
// its own size, the whole a multiple of 4 bytes):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P=0|subtype=1|   PT=204 APP  |          length = 4           |  bytes 0..3:   0x81 0xCC 0x00 0x04
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   SSRC of the sender (server)                   |  bytes 4..7
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  name = 'V' 'O' 'X' '1' (ASCII)                 |  bytes 8..11:  0x56 0x4F 0x58 0x31
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    reason     |              reserved, 0 (3 bytes)              |  bytes 12..15
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                window, milliseconds (uint32, big-endian)        |  bytes 16..19
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// reason: 1 drain, 2 session closed, 3 removed, 4 shutdown (0 is invalid;
// a receiver treats any other non-zero value like 1). window: the client
// picks a uniformly random moment in [0, window) ms after receipt to go back
// to its routing service for a new server; 0 means at once. The length
// field is 4 (five 32-bit words minus one), so the packet is 20 bytes before
// SRTCP adds its index and tag. Senders write the reserved bytes as 0 and
// receivers ignore them; a receiver also ignores any data past byte 19 (room
// to grow, with the length field updated). The notice is normally sent on
// its own (reduced-size RTCP, RFC 5506) but may follow an RR in a compound
// packet: ParseReconnectNotice looks through the whole compound.

// RTCP packet types (RFC 3550 §12.1, RFC 4585, RFC 3611).
const (
	RTCPTypeSR    uint8 = 200
	RTCPTypeRR    uint8 = 201
	RTCPTypeSDES  uint8 = 202
	RTCPTypeBYE   uint8 = 203
	RTCPTypeAPP   uint8 = 204
	RTCPTypeRTPFB uint8 = 205
	RTCPTypePSFB  uint8 = 206
	RTCPTypeXR    uint8 = 207
)

// Sizes of RTCP structures.
const (
	// RTCPHeaderSize is the size of the RTCP common header.
	RTCPHeaderSize = 4
	// ReportBlockSize is the size of one reception report block.
	ReportBlockSize = 24
	// SenderInfoSize is the size of an SR's sender info section.
	SenderInfoSize = 20
	// ReconnectNoticeSize is the size of a vox reconnect notice.
	ReconnectNoticeSize = 20
	// ReconnectNoticeSubtype is the APP subtype of a vox reconnect notice.
	ReconnectNoticeSubtype = 1
)

// ReconnectNoticeName is the APP name of a vox reconnect notice.
var ReconnectNoticeName = [4]byte{'V', 'O', 'X', '1'}

// RTCPPacket is one sub-packet of a compound RTCP packet. Its slices alias
// the compound packet.
type RTCPPacket struct {
	// Padding is the P bit.
	Padding bool
	// Count is the 5-bit RC/SC/FMT/subtype field.
	Count uint8
	// Type is the packet type (PT).
	Type uint8
	// Raw is the whole sub-packet: header, body and padding.
	Raw []byte
	// Body is Raw without the 4-byte common header and without padding.
	Body []byte
}

// RTCPIter walks the sub-packets of a compound RTCP packet without
// allocating, validating as it goes: each sub-packet has version 2, its
// length lies within the compound, its padding count is sane, and the
// sub-packets use up the compound exactly. Use it like bufio.Scanner:
//
//	it := media.NewRTCPIter(b)
//	for it.Next() {
//		p := it.Packet()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
//
// Sub-packets returned before an error are well-formed. An RTCPIter is a
// small value owned by one goroutine.
type RTCPIter struct {
	b   []byte
	off int
	err error
	cur RTCPPacket
}

// NewRTCPIter returns an iterator over the compound RTCP packet b.
func NewRTCPIter(b []byte) RTCPIter {
	it := RTCPIter{b: b}
	if len(b) == 0 {
		it.err = ErrTooShort
	}
	return it
}

// Next advances to the next sub-packet and reports whether there is one.
// It returns false at the end of the compound or at the first error.
func (it *RTCPIter) Next() bool {
	if it.err != nil || it.off == len(it.b) {
		return false
	}
	rest := it.b[it.off:]
	if len(rest) < RTCPHeaderSize {
		it.err = ErrMalformed // trailing bytes that are not a sub-packet
		return false
	}
	if rest[0]>>6 != 2 {
		it.err = ErrBadVersion
		return false
	}
	size := 4 * (int(binary.BigEndian.Uint16(rest[2:4])) + 1)
	if size > len(rest) {
		it.err = ErrTooShort
		return false
	}
	p := RTCPPacket{
		Padding: rest[0]&0x20 != 0,
		Count:   rest[0] & 0x1F,
		Type:    rest[1],
		Raw:     rest[:size:size],
	}
	end := size
	if p.Padding {
		pad := int(rest[size-1])
		if pad == 0 || pad > size-RTCPHeaderSize {
			it.err = ErrBadPadding
			return false
		}
		end -= pad
	}
	p.Body = rest[RTCPHeaderSize:end:end]
	it.cur = p
	it.off += size
	return true
}

// Packet returns the current sub-packet; valid after Next returned true.
func (it *RTCPIter) Packet() RTCPPacket { return it.cur }

// Err returns the first validation error met, or nil if the compound was
// walked to its end (or not yet walked that far).
func (it *RTCPIter) Err() error { return it.err }

// ValidateRTCP walks the whole compound packet b and returns the number of
// sub-packets, or the first validation error.
func ValidateRTCP(b []byte) (int, error) {
	it := NewRTCPIter(b)
	n := 0
	for it.Next() {
		n++
	}
	return n, it.Err()
}

// SenderSSRC returns the SSRC of the packet's sender: the first word of the
// body of an SR, RR, APP, RTPFB, PSFB or XR packet. Other types (SDES and
// BYE carry lists of sources) give ErrWrongPacketType.
func (p RTCPPacket) SenderSSRC() (uint32, error) {
	switch p.Type {
	case RTCPTypeSR, RTCPTypeRR, RTCPTypeAPP, RTCPTypeRTPFB, RTCPTypePSFB, RTCPTypeXR:
	default:
		return 0, ErrWrongPacketType
	}
	if len(p.Body) < 4 {
		return 0, ErrTooShort
	}
	return binary.BigEndian.Uint32(p.Body[:4]), nil
}

// SenderReport is the sender info of an SR (RFC 3550 §6.4.1).
type SenderReport struct {
	// SSRC is the sender's SSRC.
	SSRC uint32
	// NTPTime is the 64-bit NTP timestamp (seconds since 1900 << 32 |
	// fraction).
	NTPTime uint64
	// RTPTime is the RTP timestamp matching NTPTime.
	RTPTime uint32
	// PacketCount is the sender's packet count.
	PacketCount uint32
	// OctetCount is the sender's payload octet count.
	OctetCount uint32
}

// LSR returns the middle 32 bits of the NTP timestamp, the value a receiver
// echoes in the LSR field of its report blocks.
func (s SenderReport) LSR() uint32 { return uint32(s.NTPTime >> 16) }

// ParseSenderReport returns the sender info of an SR and checks that its
// report blocks fit in the body.
func ParseSenderReport(p RTCPPacket) (SenderReport, error) {
	var s SenderReport
	if p.Type != RTCPTypeSR {
		return s, ErrWrongPacketType
	}
	if len(p.Body) < 4+SenderInfoSize+ReportBlockSize*int(p.Count) {
		return s, ErrTooShort
	}
	b := p.Body
	s.SSRC = binary.BigEndian.Uint32(b[0:4])
	s.NTPTime = binary.BigEndian.Uint64(b[4:12])
	s.RTPTime = binary.BigEndian.Uint32(b[12:16])
	s.PacketCount = binary.BigEndian.Uint32(b[16:20])
	s.OctetCount = binary.BigEndian.Uint32(b[20:24])
	return s, nil
}

// ReportBlock is one reception report block (RFC 3550 §6.4.1).
type ReportBlock struct {
	// SSRC is the source this block reports on.
	SSRC uint32
	// FractionLost is the fraction lost since the previous report, in
	// 1/256 units.
	FractionLost uint8
	// CumulativeLost is the cumulative number of packets lost, a 24-bit
	// signed value on the wire (negative with duplicates); builders clamp
	// it to [-8388608, 8388607].
	CumulativeLost int32
	// ExtHighestSeq is the extended highest sequence number received.
	ExtHighestSeq uint32
	// Jitter is the interarrival jitter in timestamp units.
	Jitter uint32
	// LSR is the middle 32 bits of the NTP timestamp of the last SR
	// received from the source, 0 if none.
	LSR uint32
	// DLSR is the delay since that SR, in 1/65536 s, 0 if none.
	DLSR uint32
}

// ReportBlock returns the i-th report block (0 ≤ i < Count) of an SR or RR.
func (p RTCPPacket) ReportBlock(i int) (ReportBlock, error) {
	var rb ReportBlock
	var off int
	switch p.Type {
	case RTCPTypeSR:
		off = 4 + SenderInfoSize
	case RTCPTypeRR:
		off = 4
	default:
		return rb, ErrWrongPacketType
	}
	if i < 0 || i >= int(p.Count) {
		return rb, ErrInvalidArgument
	}
	off += i * ReportBlockSize
	if len(p.Body) < off+ReportBlockSize {
		return rb, ErrTooShort
	}
	b := p.Body[off : off+ReportBlockSize]
	rb.SSRC = binary.BigEndian.Uint32(b[0:4])
	rb.FractionLost = b[4]
	lost := int32(b[5])<<16 | int32(b[6])<<8 | int32(b[7])
	if lost&0x800000 != 0 {
		lost -= 1 << 24
	}
	rb.CumulativeLost = lost
	rb.ExtHighestSeq = binary.BigEndian.Uint32(b[8:12])
	rb.Jitter = binary.BigEndian.Uint32(b[12:16])
	rb.LSR = binary.BigEndian.Uint32(b[16:20])
	rb.DLSR = binary.BigEndian.Uint32(b[20:24])
	return rb, nil
}

// Bye is a parsed BYE packet (RFC 3550 §6.6). Its slices alias the packet.
type Bye struct {
	ssrcs []byte
	// Reason is the optional reason for leaving (not validated as UTF-8);
	// nil when absent.
	Reason []byte
}

// Len returns the number of SSRC/CSRC identifiers in the BYE.
func (b Bye) Len() int { return len(b.ssrcs) / 4 }

// SSRC returns the i-th identifier, 0 ≤ i < Len().
func (b Bye) SSRC(i int) uint32 { return binary.BigEndian.Uint32(b.ssrcs[4*i : 4*i+4]) }

// ParseBye parses a BYE packet: the SC identifiers and, if present, the
// length-prefixed reason, all within the body.
func ParseBye(p RTCPPacket) (Bye, error) {
	var b Bye
	if p.Type != RTCPTypeBYE {
		return b, ErrWrongPacketType
	}
	n := 4 * int(p.Count)
	if len(p.Body) < n {
		return b, ErrTooShort
	}
	b.ssrcs = p.Body[:n:n]
	if rest := p.Body[n:]; len(rest) > 0 && rest[0] > 0 {
		l := int(rest[0])
		if 1+l > len(rest) {
			return b, ErrMalformed
		}
		b.Reason = rest[1 : 1+l : 1+l]
	}
	return b, nil
}

// App is a parsed APP packet (RFC 3550 §6.7). Data aliases the packet.
type App struct {
	// Subtype is the 5-bit subtype.
	Subtype uint8
	// SSRC is the sender's SSRC.
	SSRC uint32
	// Name is the 4-character ASCII name.
	Name [4]byte
	// Data is the application-dependent data (a multiple of 4 bytes
	// unless padding was miscounted by the sender).
	Data []byte
}

// ParseApp parses an APP packet.
func ParseApp(p RTCPPacket) (App, error) {
	var a App
	if p.Type != RTCPTypeAPP {
		return a, ErrWrongPacketType
	}
	if len(p.Body) < 8 {
		return a, ErrTooShort
	}
	a.Subtype = p.Count
	a.SSRC = binary.BigEndian.Uint32(p.Body[0:4])
	copy(a.Name[:], p.Body[4:8])
	a.Data = p.Body[8:len(p.Body):len(p.Body)]
	return a, nil
}

// appendHeader appends an RTCP common header for a packet of size bytes.
func appendRTCPHeader(dst []byte, count, typ uint8, size int) []byte {
	return append(dst, 0x80|count&0x1F, typ, byte((size/4-1)>>8), byte(size/4-1))
}

// AppendReceiverReport appends an RR (RFC 3550 §6.4.2) from sender ssrc
// with the given report blocks (at most 31) to dst and returns the extended
// slice. It allocates only if dst lacks capacity.
func AppendReceiverReport(dst []byte, ssrc uint32, blocks ...ReportBlock) ([]byte, error) {
	if len(blocks) > 31 {
		return dst, ErrInvalidArgument
	}
	dst = appendRTCPHeader(dst, uint8(len(blocks)), RTCPTypeRR, 8+ReportBlockSize*len(blocks))
	dst = binary.BigEndian.AppendUint32(dst, ssrc)
	for i := range blocks {
		dst = appendReportBlock(dst, &blocks[i])
	}
	return dst, nil
}

func appendReportBlock(dst []byte, rb *ReportBlock) []byte {
	lost := min(max(rb.CumulativeLost, -(1<<23)), 1<<23-1)
	u := uint32(lost) & 0xFFFFFF
	dst = binary.BigEndian.AppendUint32(dst, rb.SSRC)
	dst = append(dst, rb.FractionLost, byte(u>>16), byte(u>>8), byte(u))
	dst = binary.BigEndian.AppendUint32(dst, rb.ExtHighestSeq)
	dst = binary.BigEndian.AppendUint32(dst, rb.Jitter)
	dst = binary.BigEndian.AppendUint32(dst, rb.LSR)
	return binary.BigEndian.AppendUint32(dst, rb.DLSR)
}

// AppendBye appends a BYE (RFC 3550 §6.6) for 1 to 31 sources, without a
// reason, to dst and returns the extended slice. It allocates only if dst
// lacks capacity.
func AppendBye(dst []byte, ssrcs ...uint32) ([]byte, error) {
	if len(ssrcs) == 0 || len(ssrcs) > 31 {
		return dst, ErrInvalidArgument
	}
	dst = appendRTCPHeader(dst, uint8(len(ssrcs)), RTCPTypeBYE, 4+4*len(ssrcs))
	for _, s := range ssrcs {
		dst = binary.BigEndian.AppendUint32(dst, s)
	}
	return dst, nil
}

// AppendApp appends an APP packet (RFC 3550 §6.7) to dst and returns the
// extended slice. data must be a multiple of 4 bytes long and subtype below
// 32. It allocates only if dst lacks capacity.
func AppendApp(dst []byte, ssrc uint32, subtype uint8, name [4]byte, data []byte) ([]byte, error) {
	if subtype > 31 || len(data)%4 != 0 || 12+len(data) > 4*(1<<16) {
		return dst, ErrInvalidArgument
	}
	dst = appendRTCPHeader(dst, subtype, RTCPTypeAPP, 12+len(data))
	dst = binary.BigEndian.AppendUint32(dst, ssrc)
	dst = append(dst, name[:]...)
	return append(dst, data...), nil
}

// ReconnectReason says why the server asks a client to reconnect.
type ReconnectReason uint8

// Reconnect reasons carried in a reconnect notice.
const (
	// ReconnectDrain: the server is draining (deploy, scale-down).
	ReconnectDrain ReconnectReason = 1
	// ReconnectSessionClosed: the session was closed.
	ReconnectSessionClosed ReconnectReason = 2
	// ReconnectRemoved: the participant was removed.
	ReconnectRemoved ReconnectReason = 3
	// ReconnectShutdown: the server is shutting down now.
	ReconnectShutdown ReconnectReason = 4
)

// String returns the reason's name.
func (r ReconnectReason) String() string {
	switch r {
	case ReconnectDrain:
		return "drain"
	case ReconnectSessionClosed:
		return "session_closed"
	case ReconnectRemoved:
		return "removed"
	case ReconnectShutdown:
		return "shutdown"
	default:
		return "unknown"
	}
}

// ReconnectNotice is the content of a vox reconnect notice (layout at the
// top of rtcp.go).
type ReconnectNotice struct {
	// SSRC is the sender (server) SSRC of the APP packet.
	SSRC uint32
	// Reason is why the client must reconnect.
	Reason ReconnectReason
	// WindowMS is the window, in milliseconds, within which the client
	// picks a random moment to reconnect.
	WindowMS uint32
}

// Window returns WindowMS as a time.Duration.
func (n ReconnectNotice) Window() time.Duration {
	return time.Duration(n.WindowMS) * time.Millisecond
}

// AppendReconnectNotice appends the 20-byte reconnect notice n to dst and
// returns the extended slice. It allocates only if dst lacks capacity.
func AppendReconnectNotice(dst []byte, n ReconnectNotice) []byte {
	dst = appendRTCPHeader(dst, ReconnectNoticeSubtype, RTCPTypeAPP, ReconnectNoticeSize)
	dst = binary.BigEndian.AppendUint32(dst, n.SSRC)
	dst = append(dst, ReconnectNoticeName[:]...)
	dst = append(dst, byte(n.Reason), 0, 0, 0)
	return binary.BigEndian.AppendUint32(dst, n.WindowMS)
}

// ParseReconnectNotice looks through the (decrypted) compound RTCP packet b
// for a vox reconnect notice and returns the first well-formed one. The
// whole compound is validated first: a malformed compound gives its
// validation error even if it holds a notice. A VOX1 notice with reason 0 or
// less than 8 data bytes gives ErrMalformed (unless a well-formed one
// follows), no notice at all ErrNotReconnectNotice. It never allocates.
func ParseReconnectNotice(b []byte) (ReconnectNotice, error) {
	var n ReconnectNotice
	found := false
	var perr error
	it := NewRTCPIter(b)
	for it.Next() {
		p := it.Packet()
		if found || p.Type != RTCPTypeAPP || p.Count != ReconnectNoticeSubtype {
			continue
		}
		a, err := ParseApp(p)
		if err != nil || a.Name != ReconnectNoticeName {
			continue
		}
		if len(a.Data) < 8 || a.Data[0] == 0 {
			if perr == nil {
				perr = ErrMalformed
			}
			continue
		}
		n.SSRC = a.SSRC
		n.Reason = ReconnectReason(a.Data[0])
		n.WindowMS = binary.BigEndian.Uint32(a.Data[4:8])
		found = true
	}
	switch {
	case it.Err() != nil:
		return ReconnectNotice{}, it.Err()
	case found:
		return n, nil
	case perr != nil:
		return n, perr
	default:
		return n, ErrNotReconnectNotice
	}
}
