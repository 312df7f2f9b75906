package sessionmgr

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// fwdRoom drives one engine's room without sockets, as clients would:
// every member sends with its own SRTP context and decrypts what the
// engine sends it with its own.
type fwdRoom struct {
	t      *testing.T
	e      *engine
	q      *netio.SendQueue
	pts    []*participant
	cli    []*fwdClient
	byAddr map[netip.AddrPort]*fwdClient
	now    int64
}

type fwdClient struct {
	pt    *participant
	out   *media.Outbound // client → server
	in    *media.Inbound  // server → client
	seq   uint16
	level int // -1: sends no level; -2: sends nothing
	// got[sender SSRC] is every sequence number received, in order.
	got map[uint32][]uint16
	// The roster it was told (roster_test.go): participant id by SSRC,
	// display names, the SSRCs it got a BYE for, and when each SSRC was
	// first named (the number of RTP packets it had got by then).
	names   map[uint32]string
	dnames  map[uint32]string
	byes    []uint32
	notices []media.ReconnectReason
	maxRTCP int // the longest plaintext RTCP it got
	namedAt map[uint32]int
	rtcps   int
}

func newFwdRoom(t *testing.T, n int, cfg Config) *fwdRoom {
	cfg.Logger = quiet
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &fwdRoom{t: t, byAddr: map[netip.AddrPort]*fwdClient{}, now: int64(time.Second)}
	r.e = m.newEngine(nil, netio.DefaultMaxDatagram)
	r.q = netio.NewDetachedQueue(512, netio.DefaultMaxDatagram, func(pkts [][]byte, to []netip.AddrPort) {
		for i, b := range pkts {
			c := r.byAddr[to[i]]
			if media.Classify(b) == media.KindRTCP {
				c.rtcp(t, b)
				continue
			}
			plain, h, err := c.in.DecryptRTP(b)
			if err != nil {
				t.Fatalf("member %s cannot decrypt what it got: %v", c.pt.id, err)
			}
			_ = plain
			c.got[h.SSRC] = append(c.got[h.SSRC], h.SequenceNumber)
		}
	})
	p := media.ProfileAEADAES128GCM
	for i := range n {
		keys, err := media.GenerateSessionKeys(p)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := media.NewInbound(p, keys.ClientToServer)
		out, _ := media.NewOutbound(p, keys.ServerToClient)
		pt := &participant{id: fmt.Sprint("p", i), ssrc: uint32(1000 + i), serverSSRC: uint32(9000 + i), in: in, out: out}
		r.e.admit(r.now, pt, testRoom("room", false), false)
		pt.addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i))
		c := &fwdClient{pt: pt, level: -2, seq: uint16(65500 + 3*i), got: map[uint32][]uint16{},
			names: map[uint32]string{}, dnames: map[uint32]string{}, namedAt: map[uint32]int{}}
		c.out, _ = media.NewOutbound(p, keys.ClientToServer)
		c.in, _ = media.NewInbound(p, keys.ServerToClient)
		r.pts = append(r.pts, pt)
		r.cli = append(r.cli, c)
		r.byAddr[pt.addr] = c
	}
	return r
}

// round is 20 ms: every member with a level sends one packet (lost: the
// sequence numbers whose packets are lost on the way to the server).
func (r *fwdRoom) round(lost ...uint16) {
	r.now += int64(20 * time.Millisecond)
	for _, c := range r.cli {
		if c.level == -2 {
			continue
		}
		f := media.RTPFields{PayloadType: 111, SequenceNumber: c.seq, Timestamp: uint32(c.seq) * 960, SSRC: c.pt.ssrc}
		var plain []byte
		if c.level >= 0 {
			plain, _ = media.AppendRTPHeaderWithAudioLevel(nil, f, DefaultAudioLevelExtensionID, uint8(c.level), true)
		} else {
			plain = media.AppendRTPHeader(nil, f)
		}
		plain = append(plain, make([]byte, 60)...)
		enc, err := c.out.EncryptRTP(nil, plain)
		if err != nil {
			r.t.Fatal(err)
		}
		c.seq++
		if slices.Contains(lost, f.SequenceNumber) {
			continue
		}
		r.e.HandleBatch(r.now, []netio.Packet{{Data: enc, From: c.pt.addr}}, r.q)
	}
	r.q.Flush()
}

func (r *fwdRoom) run(d time.Duration) {
	for range int(d / (20 * time.Millisecond)) {
		r.round()
	}
}

func (r *fwdRoom) reset() {
	for _, c := range r.cli {
		c.got = map[uint32][]uint16{}
	}
}

// heard is the sorted indexes of the members listener i received from.
func (r *fwdRoom) heard(i int) []int {
	var out []int
	for j, c := range r.cli {
		if len(r.cli[i].got[c.pt.ssrc]) > 0 {
			out = append(out, j)
		}
	}
	return out
}

// contiguous checks that every stream listener i got has no gap.
func (r *fwdRoom) contiguous(i int) {
	r.t.Helper()
	for ssrc, seqs := range r.cli[i].got {
		for k := 1; k < len(seqs); k++ {
			if seqs[k] != seqs[k-1]+1 {
				r.t.Fatalf("listener %d, stream %d: seq %d after %d", i, ssrc, seqs[k], seqs[k-1])
			}
		}
	}
}

func TestForwardTopThreeSpeakers(t *testing.T) {
	r := newFwdRoom(t, 8, Config{})
	levels := []int{50, 20, 60, 30, 40, 10} // members 0..5 talk; 6, 7 listen
	for i, l := range levels {
		r.cli[i].level = l
	}
	top := []int{1, 3, 5} // levels 20, 30, 10
	r.run(time.Second)
	r.reset()
	r.run(2 * time.Second)
	for i := range r.cli {
		want := slices.DeleteFunc(slices.Clone(top), func(j int) bool { return j == i })
		if got := r.heard(i); !slices.Equal(got, want) {
			t.Errorf("member %d heard %v, want %v", i, got, want)
		}
		r.contiguous(i)
		for _, j := range want {
			if n := len(r.cli[i].got[r.pts[j].ssrc]); n != 100 {
				t.Errorf("member %d got %d of member %d's 100 packets", i, n, j)
			}
		}
	}

	// Member 2 (level 60, never heard) shouts: heard within 100 ms; it
	// takes the slot of the quietest, member 3.
	r.reset()
	r.cli[2].level = 5
	var in time.Duration = -1
	for k := 1; k <= 20; k++ {
		r.round()
		if len(r.cli[7].got[r.pts[2].ssrc]) > 0 {
			in = time.Duration(k) * 20 * time.Millisecond
			break
		}
	}
	if in < 0 || in > 100*time.Millisecond {
		t.Fatalf("the new loud speaker was heard after %v, want within 100 ms", in)
	}
	t.Logf("a new loud speaker is heard after %v", in)
	r.run(time.Second)
	r.reset()
	r.run(time.Second)
	if got := r.heard(7); !slices.Equal(got, []int{1, 2, 5}) {
		t.Errorf("after the change member 7 hears %v, want [1 2 5]", got)
	}

	// Member 3 comes back: the packets of its withheld stretch are
	// skipped in its listeners' view, a real loss still shows.
	r.cli[3].level = 1
	r.cli[2].level = 127 // goes quiet: frees its slot
	r.run(time.Second)
	r.reset()
	lostSeq := r.cli[3].seq + 10
	for range 30 {
		r.round(lostSeq)
	}
	seqs := r.cli[7].got[r.pts[3].ssrc]
	if len(seqs) != 29 {
		t.Fatalf("member 7 got %d of member 3's packets, want 29", len(seqs))
	}
	gaps := 0
	for k := 1; k < len(seqs); k++ {
		switch seqs[k] - seqs[k-1] {
		case 1:
		case 2:
			gaps++
		default:
			t.Fatalf("seq %d after %d", seqs[k], seqs[k-1])
		}
	}
	if gaps != 1 {
		t.Errorf("%d gaps, want the one real loss", gaps)
	}
}

// Continuity across withheld stretches: a speaker in and out of the
// selection (and of the 16-bit wrap: the clients start near 65535) is
// heard with contiguous sequence numbers that decrypt.
func TestForwardContiguousAcrossSelection(t *testing.T) {
	r := newFwdRoom(t, 5, Config{MaxSpeakers: 1})
	r.cli[0].level, r.cli[1].level = 20, 127
	for k := range 12 {
		// Members 0 and 1 take turns talking, 600 ms each.
		if k%2 == 0 {
			r.cli[0].level, r.cli[1].level = 20, 127
		} else {
			r.cli[0].level, r.cli[1].level = 127, 20
		}
		r.run(600 * time.Millisecond)
	}
	for i := 2; i < 5; i++ {
		if got := r.heard(i); !slices.Equal(got, []int{0, 1}) {
			t.Fatalf("member %d heard %v", i, got)
		}
		r.contiguous(i)
		for _, j := range []int{0, 1} {
			seqs := r.cli[i].got[r.pts[j].ssrc]
			if len(seqs) > 12*30*3/4 || len(seqs) < 12*30/3 {
				t.Errorf("member %d got %d packets of %d", i, len(seqs), j)
			}
			if seqs[0] > seqs[len(seqs)-1] {
				t.Logf("member %d: stream %d wrapped (%d..%d)", i, j, seqs[0], seqs[len(seqs)-1])
			}
		}
	}
}

func TestForwardMutesAndChannels(t *testing.T) {
	// 0 global, 1 global, 2 red, 3 red, 4 blue, 5 blue; all talk without
	// levels (always selected) so routing alone decides.
	r := newFwdRoom(t, 6, Config{})
	for _, c := range r.cli {
		c.level = -1
	}
	check := func(what string, want [][]int) {
		t.Helper()
		r.reset()
		r.run(200 * time.Millisecond)
		for i := range r.cli {
			if got := r.heard(i); !slices.Equal(got, want[i]) {
				t.Errorf("%s: member %d heard %v, want %v", what, i, got, want[i])
			}
			r.contiguous(i)
		}
	}
	check("everybody global", [][]int{{1, 2, 3, 4, 5}, {0, 2, 3, 4, 5}, {0, 1, 3, 4, 5}, {0, 1, 2, 4, 5}, {0, 1, 2, 3, 5}, {0, 1, 2, 3, 4}})

	r.pts[2].setChannel("red")
	r.pts[3].setChannel("red")
	r.pts[4].setChannel("blue")
	r.pts[5].setChannel("blue")
	teams := [][]int{{1, 2, 3, 4, 5}, {0, 2, 3, 4, 5}, {0, 1, 3}, {0, 1, 2}, {0, 1, 5}, {0, 1, 4}}
	check("teams", teams)

	r.pts[1].setMuted(true)
	check("1 muted by the server", [][]int{{2, 3, 4, 5}, {0, 2, 3, 4, 5}, {0, 3}, {0, 2}, {0, 5}, {0, 4}})
	r.pts[1].setMuted(false)
	check("1 unmuted", teams)

	// Member 3 mutes 0 by id and 2 by SSRC; member 0 mutes a member who
	// is not there yet.
	r.pts[3].muteIDs = []string{"p0"}
	r.pts[3].muteSSRCs = []uint32{r.pts[2].ssrc}
	r.pts[3].resolveMutes()
	r.pts[0].muteIDs = []string{"p9"}
	r.pts[0].resolveMutes()
	check("own mutes", [][]int{{1, 2, 3, 4, 5}, {0, 2, 3, 4, 5}, {0, 1, 3}, {1}, {0, 1, 5}, {0, 1, 4}})

	r.pts[2].setChannel("global")
	check("2 back to global", [][]int{{1, 2, 3, 4, 5}, {0, 2, 3, 4, 5}, {0, 1, 3, 4, 5}, {1}, {0, 1, 2, 5}, {0, 1, 2, 4}})
}

// The session option max_speakers reaches the shard: with 1, only the
// loudest of two talkers is forwarded, over real sockets.
func TestSessionMaxSpeakersOption(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	ctx := t.Context()
	if _, _, err := m.PutSession(ctx, "s", SessionOptions{MaxSpeakers: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PutSession(ctx, "s", SessionOptions{MaxSpeakers: 2}); !errors.Is(err, ErrSessionConflict) {
		t.Errorf("other max_speakers: %v", err)
	}
	if _, _, err := m.PutSession(ctx, "t", SessionOptions{MaxSpeakers: MaxMaxSpeakers + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("max_speakers too large: %v", err)
	}
	var cs []*rawClient
	for _, id := range []string{"loud", "quiet", "listener"} {
		cs = append(cs, newRawClient(t, admit(t, m, "s", id)))
	}
	sendLevel := func(c *rawClient, level int) {
		enc, err := c.out.EncryptRTP(nil, c.rtp(make([]byte, 20), level))
		if err != nil {
			t.Fatal(err)
		}
		c.write(enc)
	}
	sendLevel(cs[2], 127) // the listener latches, silent
	time.Sleep(20 * time.Millisecond)
	for range 10 {
		sendLevel(cs[0], 10)
		sendLevel(cs[1], 50)
		time.Sleep(5 * time.Millisecond)
	}
	got := map[uint32]int{}
	for range 10 {
		rtp := cs[2].recvRTP(time.Second)
		h, _ := media.ParseRTPHeader(rtp)
		got[h.SSRC]++
	}
	cs[2].expectNothing(50 * time.Millisecond)
	if got[cs[0].adm.SSRC] != 10 || len(got) != 1 {
		t.Errorf("the listener got %v, want only the loud speaker's 10", got)
	}
	info, err := m.Session(ctx, "s")
	if err != nil || info.MaxSpeakers != 1 {
		t.Fatalf("session: %+v %v", info, err)
	}
	for _, p := range info.Participants {
		if want := p.ID == "loud"; p.Selected != want {
			t.Errorf("%s selected %v", p.ID, p.Selected)
		}
	}
}
