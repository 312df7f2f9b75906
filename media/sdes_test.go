package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtcp"
)

// TestSDESRoundTrip: what BeginSDES/AppendSDESChunk/EndSDES build, pion/rtcp
// reads as the same source description, and NewSDESIter reads back.
func TestSDESRoundTrip(t *testing.T) {
	type ch struct {
		ssrc        uint32
		cname, name string
	}
	for _, chunks := range [][]ch{
		{{1, "a", ""}},
		{{0x0A0B0C0D, "alice", "Al"}},
		{{1, "abc", ""}, {2, "abcd", "Zoë ✓"}, {3, "p-3.x_y", "0123456789012345678901234567890123456789012345678901234567890123"}},
	} {
		b, _ := AppendReceiverReport(nil, 0x5E5E0001)
		b, start := BeginSDES(b)
		want := 0
		for _, c := range chunks {
			b = AppendSDESChunk(b, c.ssrc, c.cname, c.name)
			want += SDESChunkSize(c.cname, c.name)
		}
		b = EndSDES(b, start, len(chunks))
		if got := len(b) - start - 4; got != want {
			t.Fatalf("chunks take %d bytes, SDESChunkSize says %d", got, want)
		}
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			t.Fatalf("pion: %v (%x)", err, b)
		}
		sd, ok := pkts[1].(*rtcp.SourceDescription)
		if !ok || len(sd.Chunks) != len(chunks) {
			t.Fatalf("pion read %#v", pkts[1])
		}
		for i, c := range chunks {
			pc := sd.Chunks[i]
			if pc.Source != c.ssrc || pc.Items[0].Type != rtcp.SDESCNAME || pc.Items[0].Text != c.cname {
				t.Errorf("pion chunk %d: %+v", i, pc)
			}
			if c.name != "" && (len(pc.Items) != 2 || pc.Items[1].Type != rtcp.SDESName || pc.Items[1].Text != c.name) {
				t.Errorf("pion chunk %d: %+v", i, pc)
			}
		}
		it := NewRTCPIter(b)
		it.Next()
		if !it.Next() {
			t.Fatal(it.Err())
		}
		si := NewSDESIter(it.Packet())
		n := 0
		for si.Next() {
			c := si.Chunk()
			if c.SSRC != chunks[n].ssrc || string(c.CNAME) != chunks[n].cname || string(c.Name) != chunks[n].name {
				t.Errorf("chunk %d: %+v", n, c)
			}
			n++
		}
		if si.Err() != nil || n != len(chunks) {
			t.Fatalf("read %d chunks: %v", n, si.Err())
		}
	}
}

// TestSDESIterFromPion: an SDES pion writes (with other item types and a
// chunk without items) reads right.
func TestSDESIterFromPion(t *testing.T) {
	sd := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{
		{Source: 7, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESEmail, Text: "x@y"}, {Type: rtcp.SDESCNAME, Text: "bob"}}},
		{Source: 8, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESName, Text: "N"}}},
	}}
	b, err := sd.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	it := NewRTCPIter(b)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	si := NewSDESIter(it.Packet())
	var got []SDESChunk
	for si.Next() {
		got = append(got, si.Chunk())
	}
	if si.Err() != nil || len(got) != 2 || got[0].SSRC != 7 || string(got[0].CNAME) != "bob" || got[1].CNAME != nil || string(got[1].Name) != "N" {
		t.Fatalf("%+v %v", got, si.Err())
	}
}

// TestSDESIterMalformed: truncated items, a missing end, and a wrong packet
// type are errors, never a panic or a read past the packet.
func TestSDESIterMalformed(t *testing.T) {
	for _, body := range [][]byte{
		{0, 0, 0, 1},                         // no end item
		{0, 0, 0, 1, 1, 9, 'a', 'b'},         // item longer than the packet
		{0, 0, 0, 1, 1, 3, 'a', 'b', 'c', 0}, // padding runs past the end
		{0, 0, 0, 1, 1},                      // truncated item header
		{0, 0, 0, 1, 2, 0, 1, 0, 0, 0},       // empty NAME then a CNAME without end
	} {
		si := NewSDESIter(RTCPPacket{Type: RTCPTypeSDES, Count: 1, Body: body})
		for si.Next() {
		}
		if si.Err() == nil {
			t.Errorf("%x: no error", body)
		}
	}
	si := NewSDESIter(RTCPPacket{Type: RTCPTypeBYE, Count: 1})
	if si.Next() || si.Err() != ErrWrongPacketType {
		t.Errorf("BYE: %v", si.Err())
	}
}

// TestAppendRTPHeaderCSRC: the CC field and the list; beyond 15 cut.
func TestAppendRTPHeaderCSRC(t *testing.T) {
	cs := make([]uint32, 17)
	for i := range cs {
		cs[i] = uint32(100 + i)
	}
	b := AppendRTPHeaderCSRC(nil, RTPFields{PayloadType: 111, SequenceNumber: 7, Timestamp: 960, SSRC: 9}, cs)
	h, err := ParseRTP(append(b, 1, 2, 3))
	if err != nil || h.CSRCCount != 15 || h.SSRC != 9 || h.SequenceNumber != 7 {
		t.Fatalf("%+v %v", h, err)
	}
	for i := range 15 {
		if h.CSRC(b, i) != uint32(100+i) {
			t.Fatalf("csrc %d = %d", i, h.CSRC(b, i))
		}
	}
	if !bytes.Equal(b[:2], []byte{0x8F, 111}) {
		t.Fatalf("%x", b[:2])
	}
	if n := testing.AllocsPerRun(100, func() { b = AppendRTPHeaderCSRC(b[:0], RTPFields{}, cs[:3]) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzSDESIter: any body, any count: no panic, every chunk's texts lie
// within the body, at most Count chunks.
func FuzzSDESIter(f *testing.F) {
	b, _ := BeginSDES(nil)
	b = AppendSDESChunk(b, 1, "alice", "Al")
	b = AppendSDESChunk(b, 2, "bob", "")
	b = EndSDES(b, 0, 2)
	f.Add(b[4:], uint8(2))
	f.Add([]byte{0, 0, 0, 1, 1, 1, 'a', 0}, uint8(1))
	f.Add([]byte{}, uint8(31))
	f.Fuzz(func(t *testing.T, body []byte, count uint8) {
		si := NewSDESIter(RTCPPacket{Type: RTCPTypeSDES, Count: count & 0x1F, Body: body})
		n := 0
		for si.Next() {
			c := si.Chunk()
			for _, txt := range [][]byte{c.CNAME, c.Name} {
				if len(txt) > 255 {
					t.Fatalf("text of %d bytes", len(txt))
				}
				if len(txt) > 0 && !bytes.Contains(body, txt) {
					t.Fatalf("text %q not in the body", txt)
				}
			}
			n++
		}
		if n > int(count&0x1F) {
			t.Fatalf("%d chunks for SC %d", n, count&0x1F)
		}
	})
}
