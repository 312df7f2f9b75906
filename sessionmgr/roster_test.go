package sessionmgr

import (
	"slices"
	"strings"
	"testing"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// rtcp decrypts an SRTCP packet the engine sent c and records the roster
// it carries.
func (c *fwdClient) rtcp(t *testing.T, b []byte) {
	t.Helper()
	plain, err := c.in.DecryptRTCP(b)
	if err != nil {
		t.Fatalf("member %s cannot decrypt the server's RTCP: %v", c.pt.id, err)
	}
	c.rtcps++
	c.maxRTCP = max(c.maxRTCP, len(plain))
	it := media.NewRTCPIter(plain)
	first := true
	for it.Next() {
		p := it.Packet()
		if first {
			if p.Type != media.RTCPTypeRR && p.Type != media.RTCPTypeSR && p.Type != media.RTCPTypeAPP {
				t.Fatalf("compound starts with %d", p.Type)
			}
			if ssrc, _ := p.SenderSSRC(); ssrc != c.pt.serverSSRC {
				t.Fatalf("compound from %d, want the server SSRC %d", ssrc, c.pt.serverSSRC)
			}
			first = false
		}
		switch p.Type {
		case media.RTCPTypeSDES:
			sd := media.NewSDESIter(p)
			for sd.Next() {
				ch := sd.Chunk()
				if _, ok := c.namedAt[ch.SSRC]; !ok || c.names[ch.SSRC] == "" {
					c.namedAt[ch.SSRC] = len(c.got[ch.SSRC])
				}
				c.names[ch.SSRC] = string(ch.CNAME)
				c.dnames[ch.SSRC] = string(ch.Name)
			}
			if sd.Err() != nil {
				t.Fatalf("SDES: %v", sd.Err())
			}
		case media.RTCPTypeBYE:
			bye, err := media.ParseBye(p)
			if err != nil {
				t.Fatal(err)
			}
			for i := range bye.Len() {
				c.byes = append(c.byes, bye.SSRC(i))
				delete(c.names, bye.SSRC(i))
			}
		}
	}
	if it.Err() != nil {
		t.Fatalf("RTCP: %v", it.Err())
	}
	if n, err := media.ParseReconnectNotice(plain); err == nil {
		c.notices = append(c.notices, n.Reason)
	}
}

// TestRosterForward: a listener is told who a speaker is (CNAME =
// participant id, NAME = display name) before that speaker's first packet
// reaches it, not again per packet; the roster is repeated every
// RosterRepeatEvery; when the speaker leaves, the listeners who knew it
// get a BYE for its SSRC.
func TestRosterForward(t *testing.T) {
	r := newFwdRoom(t, 3, Config{})
	r.pts[0].name = "Ana ✓"
	r.cli[0].level = 30
	for range 10 {
		r.round()
	}
	for _, i := range []int{1, 2} {
		c := r.cli[i]
		if got := len(c.got[r.pts[0].ssrc]); got != 10 {
			t.Fatalf("member %d got %d packets of p0, want 10", i, got)
		}
		if c.names[r.pts[0].ssrc] != "p0" || c.dnames[r.pts[0].ssrc] != "Ana ✓" {
			t.Fatalf("member %d: roster %v %v", i, c.names, c.dnames)
		}
		if c.namedAt[r.pts[0].ssrc] != 0 {
			t.Fatalf("member %d: named after %d packets, want before the first", i, c.namedAt[r.pts[0].ssrc])
		}
		if c.rtcps != 1 {
			t.Fatalf("member %d got %d roster packets for one speaker, want 1", i, c.rtcps)
		}
		if _, ok := c.names[r.pts[2].ssrc]; ok {
			t.Fatalf("member %d was told about a member it never heard", i)
		}
	}
	if r.cli[0].rtcps != 0 {
		t.Fatalf("the speaker got %d roster packets, want 0 (it hears nobody)", r.cli[0].rtcps)
	}
	// The repeat.
	before := r.cli[1].rtcps
	r.now += int64(RosterRepeatEvery + housekeepEvery)
	r.e.Tick(r.now, r.q)
	r.q.Flush()
	if r.cli[1].rtcps <= before {
		t.Fatal("no roster repeat after RosterRepeatEvery")
	}
	// The speaker leaves: BYE to both listeners at the next tick.
	r.e.remove(r.pts[0], ReasonBye)
	if r.e.NextTick(r.now) != r.now {
		t.Fatal("NextTick does not ask for a tick with BYEs due")
	}
	r.e.Tick(r.now+1, r.q)
	r.q.Flush()
	for _, i := range []int{1, 2} {
		if c := r.cli[i]; !slices.Equal(c.byes, []uint32{r.pts[0].ssrc}) {
			t.Fatalf("member %d got BYEs %v, want [%d]", i, c.byes, r.pts[0].ssrc)
		}
	}
	if len(r.e.byes) != 0 {
		t.Fatal("BYEs still due after the tick")
	}
}

// TestRosterNoAllocs: a forwarded packet whose listeners are each told
// who its speaker is (the announcement path, forced on every packet here)
// does not allocate.
func TestRosterNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newBenchRoom(t, media.ProfileAESCM128HMACSHA1_80, 3)
	r.refill(t, 300)
	sender := r.sender
	forget := func() {
		for _, l := range sender.room.members {
			if l != sender && l.knows(sender) {
				l.ros.known[sender.idx] = 0
				l.ros.count--
			}
		}
	}
	before := r.e.c.rosterOut.Load()
	allocs := testing.AllocsPerRun(200, func() {
		forget()
		r.handleNext(2)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet with announcements", allocs)
	}
	if got := r.e.c.rosterOut.Load() - before; got != 201*3 {
		t.Fatalf("%d announcements, want %d", got, 201*3)
	}
}

// TestRemovedAndClosedNotices: a participant removed through the API gets
// one notice with reason removed, the members of a deleted session one
// with reason session closed, before they are gone (window 0).
func TestRemovedAndClosedNotices(t *testing.T) {
	r := newFwdRoom(t, 3, Config{})
	r.e.noticeAndRemove(r.pts[0].ssrc, r.pts[0].serial, ReasonRemoved, media.ReconnectRemoved, r.q)
	r.q.Flush()
	if got := r.cli[0].notices; !slices.Equal(got, []media.ReconnectReason{media.ReconnectRemoved}) {
		t.Fatalf("removed participant got notices %v", got)
	}
	if r.e.parts[r.pts[0].ssrc] != nil {
		t.Fatal("still on the shard")
	}
	key := r.pts[1].room.key
	r.e.noticeRoom(key, media.ReconnectSessionClosed, r.q)
	r.e.endRoom(key, ReasonSessionEnd)
	r.q.Flush()
	for _, c := range r.cli[1:] {
		if !slices.Equal(c.notices, []media.ReconnectReason{media.ReconnectSessionClosed}) {
			t.Fatalf("%s got notices %v", c.pt.id, c.notices)
		}
	}
	if len(r.e.rooms) != 0 {
		t.Fatal("the room did not end")
	}
}

// TestRosterRepeatPacks: the repeat names every member the listener was
// told about, packed into packets of at most 31 chunks and rosterBudget
// bytes, and forgets none.
func TestRosterRepeatPacks(t *testing.T) {
	r := newFwdRoom(t, 40, Config{})
	l := r.pts[0]
	for i, m := range r.pts[1:] {
		m.name = strings.Repeat(string(rune('a'+i%26)), api.MaxDisplayName)
		l.markKnown(m, r.now)
	}
	r.e.repeatRoster(r.now, l, r.q)
	r.q.Flush()
	c := r.cli[0]
	if len(c.names) != 39 {
		t.Fatalf("named %d members, want 39", len(c.names))
	}
	for _, m := range r.pts[1:] {
		if c.names[m.ssrc] != m.id || c.dnames[m.ssrc] != m.name {
			t.Fatalf("%d named %q %q", m.ssrc, c.names[m.ssrc], c.dnames[m.ssrc])
		}
	}
	if c.maxRTCP > rosterBudget {
		t.Fatalf("a roster packet of %d bytes (budget %d)", c.maxRTCP, rosterBudget)
	}
	// 39 chunks of 76 bytes (SSRC, "pN", a 64-byte name, end, padding):
	// 13 fit in 1000 bytes after the RR and SDES headers, so 3 packets.
	if c.rtcps != 3 {
		t.Fatalf("%d packets", c.rtcps)
	}
	if l.ros.next != r.now+int64(RosterRepeatEvery) {
		t.Fatal("next repeat not scheduled")
	}
}
