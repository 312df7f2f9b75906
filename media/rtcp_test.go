package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtcp"
)

func TestReceiverReportAgainstPion(t *testing.T) {
	rb := ReportBlock{SSRC: 0x01020304, FractionLost: 25, CumulativeLost: -3, ExtHighestSeq: 0x0001FFFF,
		Jitter: 480, LSR: 0xAABBCCDD, DLSR: 65536}
	b, err := AppendReceiverReport(nil, 0xCAFE, rb)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 32 || !bytes.Equal(b[:4], []byte{0x81, 201, 0, 7}) {
		t.Fatalf("header %x", b)
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	rr, ok := pkts[0].(*rtcp.ReceiverReport)
	if !ok || len(pkts) != 1 || rr.SSRC != 0xCAFE || len(rr.Reports) != 1 {
		t.Fatalf("%#v", pkts)
	}
	r := rr.Reports[0]
	// pion keeps the 24-bit field unsigned: -3 is 0xFFFFFD.
	if r.SSRC != rb.SSRC || r.FractionLost != 25 || r.TotalLost != 0xFFFFFD || r.LastSequenceNumber != rb.ExtHighestSeq ||
		r.Jitter != 480 || r.LastSenderReport != rb.LSR || r.Delay != 65536 {
		t.Fatalf("%+v", r)
	}
	// And back: what pion builds, we parse.
	b2, err := (&rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{r, {SSRC: 5, TotalLost: 100}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	it := NewRTCPIter(b2)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	p := it.Packet()
	if s, err := p.SenderSSRC(); err != nil || s != 9 || p.Count != 2 || p.Type != RTCPTypeRR {
		t.Fatalf("%d %v %+v", s, err, p)
	}
	got, err := p.ReportBlock(0)
	if err != nil || got != rb {
		t.Fatalf("block 0 %+v %v", got, err)
	}
	if got, err := p.ReportBlock(1); err != nil || got.SSRC != 5 || got.CumulativeLost != 100 {
		t.Fatalf("block 1 %+v %v", got, err)
	}
	if _, err := p.ReportBlock(2); err != ErrInvalidArgument {
		t.Fatal(err)
	}
	if it.Next() || it.Err() != nil {
		t.Fatal("trailing")
	}
	// Clamping of the 24-bit cumulative loss.
	b, _ = AppendReceiverReport(nil, 1, ReportBlock{CumulativeLost: 1 << 30}, ReportBlock{CumulativeLost: -(1 << 30)})
	it = NewRTCPIter(b)
	it.Next()
	if r0, _ := it.Packet().ReportBlock(0); r0.CumulativeLost != 1<<23-1 {
		t.Fatal(r0.CumulativeLost)
	}
	if r1, _ := it.Packet().ReportBlock(1); r1.CumulativeLost != -(1 << 23) {
		t.Fatal(r1.CumulativeLost)
	}
	if b, _ := AppendReceiverReport(nil, 1); len(b) != 8 || b[0] != 0x80 || b[3] != 1 {
		t.Fatalf("empty RR %x", b)
	}
	if _, err := AppendReceiverReport(nil, 1, make([]ReportBlock, 32)...); err != ErrInvalidArgument {
		t.Fatal(err)
	}
}

func TestSenderReportFromPion(t *testing.T) {
	sr := &rtcp.SenderReport{SSRC: 0x11, NTPTime: 0xE1234567_89ABCDEF, RTPTime: 960, PacketCount: 50, OctetCount: 5000,
		Reports: []rtcp.ReceptionReport{{SSRC: 0x22, FractionLost: 1}}}
	b, err := sr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	it := NewRTCPIter(b)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	s, err := ParseSenderReport(it.Packet())
	if err != nil {
		t.Fatal(err)
	}
	if s != (SenderReport{SSRC: 0x11, NTPTime: 0xE1234567_89ABCDEF, RTPTime: 960, PacketCount: 50, OctetCount: 5000}) {
		t.Fatalf("%+v", s)
	}
	if s.LSR() != 0x456789AB {
		t.Fatalf("LSR %x", s.LSR())
	}
	if rb, err := it.Packet().ReportBlock(0); err != nil || rb.SSRC != 0x22 || rb.FractionLost != 1 {
		t.Fatalf("%+v %v", rb, err)
	}
	if ssrc, err := it.Packet().SenderSSRC(); err != nil || ssrc != 0x11 {
		t.Fatal(ssrc, err)
	}
	bye, _ := AppendBye(nil, 1)
	it = NewRTCPIter(bye)
	it.Next()
	if _, err := ParseSenderReport(it.Packet()); err != ErrWrongPacketType {
		t.Fatal(err)
	}
	if _, err := it.Packet().SenderSSRC(); err != ErrWrongPacketType {
		t.Fatal(err)
	}
	// SR whose report block count exceeds its length.
	b[0] = 0x80 | 2
	it = NewRTCPIter(b)
	it.Next()
	if _, err := ParseSenderReport(it.Packet()); err != ErrTooShort {
		t.Fatal(err)
	}
}

func TestByeAgainstPion(t *testing.T) {
	b, err := AppendBye(nil, 0xA, 0xB, 0xC)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := pkts[0].(*rtcp.Goodbye)
	if !ok || len(g.Sources) != 3 || g.Sources[2] != 0xC || g.Reason != "" {
		t.Fatalf("%#v", pkts[0])
	}
	b2, err := (&rtcp.Goodbye{Sources: []uint32{7, 8}, Reason: "leaving now"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	it := NewRTCPIter(b2)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	bye, err := ParseBye(it.Packet())
	if err != nil || bye.Len() != 2 || bye.SSRC(0) != 7 || bye.SSRC(1) != 8 || string(bye.Reason) != "leaving now" {
		t.Fatalf("%+v %v", bye, err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"count past body", []byte{0x83, 203, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2}, ErrTooShort},
		{"reason past body", []byte{0x81, 203, 0, 2, 0, 0, 0, 1, 9, 'a', 'b', 'c'}, ErrMalformed},
		{"no reason, zero pad", []byte{0x81, 203, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0}, nil},
	} {
		it := NewRTCPIter(c.b)
		if !it.Next() {
			t.Fatalf("%s: %v", c.name, it.Err())
		}
		if _, err := ParseBye(it.Packet()); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := AppendBye(nil); err != ErrInvalidArgument {
		t.Fatal(err)
	}
}

func TestReconnectNotice(t *testing.T) {
	n := ReconnectNotice{SSRC: 0x5EB7E700, Reason: ReconnectDrain, WindowMS: 30000}
	b := AppendReconnectNotice(make([]byte, 0, 64), n)
	want := []byte{
		0x81, 0xCC, 0x00, 0x04,
		0x5E, 0xB7, 0xE7, 0x00,
		'V', 'O', 'X', '1',
		0x01, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x75, 0x30,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("layout\n got %x\nwant %x", b, want)
	}
	got, err := ParseReconnectNotice(b)
	if err != nil || got != n || got.Window().Seconds() != 30 {
		t.Fatalf("%+v %v", got, err)
	}
	// pion reads it as an APP packet with the same fields.
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	app, ok := pkts[0].(*rtcp.ApplicationDefined)
	if !ok || app.SubType != 1 || app.SSRC != n.SSRC || app.Name != "VOX1" || !bytes.Equal(app.Data, want[12:]) {
		t.Fatalf("%#v", pkts[0])
	}
	// What pion builds, we parse: after an RR in a compound, with extra
	// data past the 8 bytes we know.
	rrb, _ := (&rtcp.ReceiverReport{SSRC: 1}).Marshal()
	appb, err := (&rtcp.ApplicationDefined{SubType: 1, SSRC: 2, Name: "VOX1",
		Data: []byte{4, 0xFF, 0xFF, 0xFF, 0, 0, 0x03, 0xE8, 1, 2, 3, 4}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	compound := append(rrb, appb...)
	got, err = ParseReconnectNotice(compound)
	if err != nil || got != (ReconnectNotice{SSRC: 2, Reason: ReconnectShutdown, WindowMS: 1000}) {
		t.Fatalf("%+v %v", got, err)
	}
	other, _ := AppendApp(nil, 3, 1, [4]byte{'V', 'O', 'X', '2'}, []byte{1, 0, 0, 0, 0, 0, 0, 1})
	sub2, _ := AppendApp(nil, 3, 2, ReconnectNoticeName, []byte{1, 0, 0, 0, 0, 0, 0, 1})
	short, _ := AppendApp(nil, 3, 1, ReconnectNoticeName, []byte{1, 0, 0, 0})
	zero, _ := AppendApp(nil, 3, 1, ReconnectNoticeName, []byte{0, 0, 0, 0, 0, 0, 0, 1})
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTooShort},
		{"rr only", rrb, ErrNotReconnectNotice},
		{"other name", other, ErrNotReconnectNotice},
		{"other subtype", sub2, ErrNotReconnectNotice},
		{"short data", short, ErrMalformed},
		{"reason 0", zero, ErrMalformed},
		{"truncated", b[:16], ErrTooShort},
		{"trailing bytes", append(append([]byte(nil), b...), 0x80), ErrMalformed},
		{"bad version", append([]byte{0x41}, b[1:]...), ErrBadVersion},
		{"malformed after notice", append(append([]byte(nil), b...), 0x80, 201, 0, 9), ErrTooShort},
	} {
		if _, err := ParseReconnectNotice(c.b); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if s := ReconnectSessionClosed.String(); s != "session_closed" {
		t.Error(s)
	}
	if _, err := AppendApp(nil, 1, 32, ReconnectNoticeName, nil); err != ErrInvalidArgument {
		t.Error(err)
	}
	if _, err := AppendApp(nil, 1, 1, ReconnectNoticeName, []byte{1}); err != ErrInvalidArgument {
		t.Error(err)
	}
}

func TestRTCPIter(t *testing.T) {
	sr, _ := (&rtcp.SenderReport{SSRC: 1, NTPTime: 5}).Marshal()
	sdes, _ := (&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "vox"}}}}}).Marshal()
	bye, _ := AppendBye(nil, 1)
	compound := append(append(append([]byte(nil), sr...), sdes...), bye...)
	var types []uint8
	it := NewRTCPIter(compound)
	total := 0
	for it.Next() {
		p := it.Packet()
		types = append(types, p.Type)
		total += len(p.Raw)
		if len(p.Body) != len(p.Raw)-4 {
			t.Fatalf("body of %d", p.Type)
		}
	}
	if it.Err() != nil || !bytes.Equal(types, []byte{200, 202, 203}) || total != len(compound) {
		t.Fatalf("%v %v", types, it.Err())
	}
	if n, err := ValidateRTCP(compound); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	// pion agrees on the split.
	pk, err := rtcp.Unmarshal(compound)
	if err != nil || len(pk) != 3 {
		t.Fatal(err)
	}

	// Padding on the last packet: 4 bytes of padding after a BYE.
	padded := []byte{0xA1, 203, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4}
	it = NewRTCPIter(padded)
	if !it.Next() || !it.Packet().Padding || len(it.Packet().Body) != 4 || len(it.Packet().Raw) != 12 {
		t.Fatalf("padded %+v %v", it.Packet(), it.Err())
	}
	if b, err := ParseBye(it.Packet()); err != nil || b.Len() != 1 || b.SSRC(0) != 9 {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTooShort},
		{"header cut", []byte{0x80, 201}, ErrMalformed},
		{"length past end", []byte{0x80, 201, 0, 2, 0, 0, 0, 1}, ErrTooShort},
		{"bad version", []byte{0x40, 201, 0, 1, 0, 0, 0, 1}, ErrBadVersion},
		{"bad version in 2nd", append(append([]byte(nil), bye...), 0xC0, 201, 0, 1, 0, 0, 0, 1), ErrBadVersion},
		{"trailing 3 bytes", append(append([]byte(nil), bye...), 0x80, 201, 0), ErrMalformed},
		{"padding 0", []byte{0xA0, 201, 0, 1, 0, 0, 0, 0}, ErrBadPadding},
		{"padding too large", []byte{0xA0, 201, 0, 1, 0, 0, 0, 5}, ErrBadPadding},
		{"padding = body", []byte{0xA0, 201, 0, 1, 0, 0, 0, 4}, nil},
	} {
		if _, err := ValidateRTCP(c.b); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestRTCPZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	dst := make([]byte, 0, 256)
	n := ReconnectNotice{SSRC: 1, Reason: ReconnectRemoved, WindowMS: 5000}
	var sink uint32
	a := testing.AllocsPerRun(100, func() {
		dst, _ = AppendReceiverReport(dst[:0], 1, ReportBlock{SSRC: 2, Jitter: 3})
		dst, _ = AppendBye(dst, 1)
		dst = AppendReconnectNotice(dst, n)
		it := NewRTCPIter(dst)
		for it.Next() {
			p := it.Packet()
			switch p.Type {
			case RTCPTypeRR:
				rb, _ := p.ReportBlock(0)
				sink += rb.Jitter
			case RTCPTypeBYE:
				b, _ := ParseBye(p)
				sink += b.SSRC(0)
			}
		}
		got, err := ParseReconnectNotice(dst)
		if err != nil || got != n {
			t.Fatal(err)
		}
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
