package media

import "encoding/binary"

// RTP header extension profiles (RFC 8285 §4.2, §4.3) and the audio level
// extension (RFC 6464).
const (
	// ExtensionProfileOneByte is the "defined by profile" value of the
	// RFC 8285 one-byte header form.
	ExtensionProfileOneByte uint16 = 0xBEDE
	// ExtensionProfileTwoByte is the "defined by profile" value of the
	// RFC 8285 two-byte header form; the low 4 bits ("appbits") are free,
	// so any value 0x1000..0x100F is the two-byte form.
	ExtensionProfileTwoByte uint16 = 0x1000
	// MaxAudioLevel is the largest RFC 6464 level: 127 means -127 dBov or
	// quieter (silence); 0 means 0 dBov (loudest).
	MaxAudioLevel = 127
)

// RTPHeader is a parsed RTP fixed header (RFC 3550 §5.1) plus the location
// of its CSRC list and header extension. It is a value type holding no
// pointers: the offsets index the packet it was parsed from.
type RTPHeader struct {
	// Marker is the M bit.
	Marker bool
	// Padding is the P bit. PaddingLength is only known after ParseRTP.
	Padding bool
	// Extension is the X bit.
	Extension bool
	// PayloadType is the 7-bit PT.
	PayloadType uint8
	// CSRCCount is the CC field (0..15).
	CSRCCount uint8
	// SequenceNumber is the 16-bit sequence number.
	SequenceNumber uint16
	// Timestamp is the RTP timestamp.
	Timestamp uint32
	// SSRC is the synchronization source.
	SSRC uint32
	// ExtensionProfile is the 16-bit "defined by profile" field of the
	// header extension, valid when Extension is set.
	ExtensionProfile uint16
	// ExtensionOffset is the offset of the extension data (just past the
	// 4-byte extension header); 0 when Extension is not set.
	ExtensionOffset int
	// ExtensionLength is the length in bytes of the extension data
	// (4 × the length field).
	ExtensionLength int
	// HeaderLength is the total header length: the offset of the payload.
	HeaderLength int
	// PaddingLength is the number of padding bytes at the end of the
	// packet, including the count byte itself. ParseRTP sets it;
	// ParseRTPHeader leaves it 0 because it cannot be read before
	// decryption.
	PaddingLength int
}

// ParseRTPHeader parses and validates the RTP header of b: version 2, the
// CSRC list and the header extension lie within b. It does not look at the
// padding count (in an SRTP packet the last byte is the authentication tag
// or encrypted), so it is the parser to run on SRTP packets before
// decryption. It never allocates.
func ParseRTPHeader(b []byte) (RTPHeader, error) {
	var h RTPHeader
	if len(b) < RTPHeaderSize {
		return h, ErrTooShort
	}
	if b[0]>>6 != 2 {
		return h, ErrBadVersion
	}
	h.Padding = b[0]&0x20 != 0
	h.Extension = b[0]&0x10 != 0
	h.CSRCCount = b[0] & 0x0F
	h.Marker = b[1]&0x80 != 0
	h.PayloadType = b[1] & 0x7F
	h.SequenceNumber = binary.BigEndian.Uint16(b[2:4])
	h.Timestamp = binary.BigEndian.Uint32(b[4:8])
	h.SSRC = binary.BigEndian.Uint32(b[8:12])

	n := RTPHeaderSize + 4*int(h.CSRCCount)
	if len(b) < n {
		return h, ErrTooShort
	}
	if h.Extension {
		if len(b) < n+4 {
			return h, ErrTooShort
		}
		h.ExtensionProfile = binary.BigEndian.Uint16(b[n : n+2])
		h.ExtensionLength = 4 * int(binary.BigEndian.Uint16(b[n+2:n+4]))
		h.ExtensionOffset = n + 4
		n = h.ExtensionOffset + h.ExtensionLength
		if len(b) < n {
			return h, ErrTooShort
		}
	}
	h.HeaderLength = n
	return h, nil
}

// ParseRTP parses and validates a plaintext RTP packet: everything
// ParseRTPHeader checks, plus a sane padding count when P is set (at least
// 1, and not reaching into the header). It never allocates.
func ParseRTP(b []byte) (RTPHeader, error) {
	h, err := ParseRTPHeader(b)
	if err != nil {
		return h, err
	}
	if h.Padding {
		if len(b) == h.HeaderLength {
			return h, ErrBadPadding
		}
		pad := int(b[len(b)-1])
		if pad == 0 || h.HeaderLength+pad > len(b) {
			return h, ErrBadPadding
		}
		h.PaddingLength = pad
	}
	return h, nil
}

// Payload returns the payload of the packet b that h was parsed from,
// without header and padding. b must be the same packet (or a prefix-equal
// copy of it).
func (h RTPHeader) Payload(b []byte) []byte {
	return b[h.HeaderLength : len(b)-h.PaddingLength]
}

// CSRC returns the i-th contributing source of the packet b that h was
// parsed from; i must be below h.CSRCCount.
func (h RTPHeader) CSRC(b []byte, i int) uint32 {
	off := RTPHeaderSize + 4*i
	return binary.BigEndian.Uint32(b[off : off+4])
}

// SetSequenceNumber rewrites the sequence number of the RTP packet b in
// place. It returns ErrTooShort if b cannot hold an RTP header.
func SetSequenceNumber(b []byte, seq uint16) error {
	if len(b) < RTPHeaderSize {
		return ErrTooShort
	}
	binary.BigEndian.PutUint16(b[2:4], seq)
	return nil
}

// SetTimestamp rewrites the RTP timestamp of the RTP packet b in place. It
// returns ErrTooShort if b cannot hold an RTP header.
func SetTimestamp(b []byte, ts uint32) error {
	if len(b) < RTPHeaderSize {
		return ErrTooShort
	}
	binary.BigEndian.PutUint32(b[4:8], ts)
	return nil
}

// SetSSRC rewrites the SSRC of the RTP packet b in place. It returns
// ErrTooShort if b cannot hold an RTP header.
func SetSSRC(b []byte, ssrc uint32) error {
	if len(b) < RTPHeaderSize {
		return ErrTooShort
	}
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	return nil
}

// SetMarker sets or clears the marker bit of the RTP packet b in place. It
// returns ErrTooShort if b cannot hold an RTP header.
func SetMarker(b []byte, marker bool) error {
	if len(b) < RTPHeaderSize {
		return ErrTooShort
	}
	if marker {
		b[1] |= 0x80
	} else {
		b[1] &^= 0x80
	}
	return nil
}

// IsTwoByteProfile reports whether an extension profile value is the
// RFC 8285 two-byte form (0x1000..0x100F).
func IsTwoByteProfile(profile uint16) bool {
	return profile&0xFFF0 == ExtensionProfileTwoByte
}

// FindExtension returns the data of the RFC 8285 header extension element
// with the given local ID in packet b, parsed into h. It handles the
// one-byte (0xBEDE, IDs 1..14) and two-byte (0x100X, IDs 1..255) forms,
// skips padding bytes, stops at the one-byte form's reserved ID 15 and at a
// non-zero byte with ID 0 (invalid: ID 0 is only padding; pion/rtp stops
// there too), and
// returns false for other profiles, absent IDs and elements that overrun
// the extension block. The returned slice aliases b. It never allocates.
func FindExtension(b []byte, h RTPHeader, id uint8) ([]byte, bool) {
	if !h.Extension || id == 0 {
		return nil, false
	}
	end := h.ExtensionOffset + h.ExtensionLength
	if end > len(b) || h.ExtensionOffset < RTPHeaderSize+4 {
		return nil, false
	}
	switch {
	case h.ExtensionProfile == ExtensionProfileOneByte:
		if id > 14 {
			return nil, false
		}
		for i := h.ExtensionOffset; i < end; {
			if b[i] == 0 { // padding
				i++
				continue
			}
			eid := b[i] >> 4
			if eid == 15 || eid == 0 { // reserved: stop parsing (RFC 8285 §4.2)
				return nil, false
			}
			n := int(b[i]&0x0F) + 1
			i++
			if i+n > end {
				return nil, false
			}
			if eid == id {
				return b[i : i+n : i+n], true
			}
			i += n
		}
	case IsTwoByteProfile(h.ExtensionProfile):
		for i := h.ExtensionOffset; i < end; {
			if b[i] == 0 { // padding
				i++
				continue
			}
			if i+2 > end {
				return nil, false
			}
			eid, n := b[i], int(b[i+1])
			i += 2
			if i+n > end {
				return nil, false
			}
			if eid == id {
				return b[i : i+n : i+n], true
			}
			i += n
		}
	}
	return nil, false
}

// AudioLevel reads the RFC 6464 client-to-mixer audio level element with
// the given local ID: level is 0..127 (-dBov, 127 = silence) and voice the
// V flag. ok is false when the packet carries no such element or it is
// empty. It never allocates.
func AudioLevel(b []byte, h RTPHeader, id uint8) (level uint8, voice bool, ok bool) {
	data, found := FindExtension(b, h, id)
	if !found || len(data) == 0 {
		return 0, false, false
	}
	return data[0] & 0x7F, data[0]&0x80 != 0, true
}

// RTPFields are the values AppendRTPHeader writes.
type RTPFields struct {
	Marker         bool   // M bit
	PayloadType    uint8  // 7-bit PT (higher bits ignored)
	SequenceNumber uint16 // sequence number
	Timestamp      uint32 // RTP timestamp
	SSRC           uint32 // synchronization source
}

// AppendRTPHeader appends a 12-byte RTP header (version 2, no padding,
// extension or CSRC) to dst and returns the extended slice; the caller
// appends the payload. It allocates only if dst lacks capacity.
func AppendRTPHeader(dst []byte, f RTPFields) []byte {
	return appendFixedHeader(dst, f, false)
}

// AudioLevelExtensionSize is the number of bytes
// AppendRTPHeaderWithAudioLevel adds after the fixed header: the 4-byte
// extension header and one 32-bit word holding the element and padding.
const AudioLevelExtensionSize = 8

// AppendRTPHeaderWithAudioLevel appends an RTP header carrying one RFC 8285
// one-byte extension block with a single RFC 6464 audio level element
// (ID id, 1..14; level 0..127; the V flag) padded to a 32-bit boundary, 20
// bytes in all, and returns the extended slice. It returns dst unchanged and
// ErrInvalidArgument for an ID or level out of range. It allocates only if
// dst lacks capacity.
func AppendRTPHeaderWithAudioLevel(dst []byte, f RTPFields, id uint8, level uint8, voice bool) ([]byte, error) {
	if id == 0 || id > 14 || level > MaxAudioLevel {
		return dst, ErrInvalidArgument
	}
	dst = appendFixedHeader(dst, f, true)
	v := level
	if voice {
		v |= 0x80
	}
	return append(dst,
		0xBE, 0xDE, 0x00, 0x01, // one-byte profile, length 1 word
		id<<4, v, 0x00, 0x00, // element: ID, len-1 = 0; level; 2 padding bytes
	), nil
}

func appendFixedHeader(dst []byte, f RTPFields, ext bool) []byte {
	b0 := byte(0x80)
	if ext {
		b0 |= 0x10
	}
	b1 := f.PayloadType & 0x7F
	if f.Marker {
		b1 |= 0x80
	}
	dst = append(dst, b0, b1)
	dst = binary.BigEndian.AppendUint16(dst, f.SequenceNumber)
	dst = binary.BigEndian.AppendUint32(dst, f.Timestamp)
	return binary.BigEndian.AppendUint32(dst, f.SSRC)
}
