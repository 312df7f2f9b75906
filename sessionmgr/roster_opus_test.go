//go:build opus

package sessionmgr

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/voxfleet/vox/media"
)

// TestRosterMix: in a mix session each listener is told that its mixed
// stream's SSRC (its server SSRC) is the mix, and each mixed packet's CSRC
// list names the talkers whose voice is in it (not the listener itself),
// each named in the roster (CNAME = participant id) before the first packet
// that lists it.
func TestRosterMix(t *testing.T) {
	r := newMixTestRoom(t, []float64{440, 660, 0})
	r.cli[1].pt.name = "Bo"
	type view struct {
		names   map[uint32]string
		dnames  map[uint32]string
		csrcs   map[uint32]int // packets listing each CSRC
		unnamed int            // CSRCs listed before being named
		mixPkts int
	}
	views := map[netip.AddrPort]*view{}
	for _, c := range r.cli {
		views[c.pt.addr] = &view{names: map[uint32]string{}, dnames: map[uint32]string{}, csrcs: map[uint32]int{}}
	}
	r.onSend = func(b []byte, to netip.AddrPort) {
		c, v := r.byAddr[to], views[to]
		if media.Classify(b) == media.KindRTCP {
			plain, err := c.in.DecryptRTCP(b)
			if err != nil {
				t.Fatalf("%s: RTCP: %v", c.pt.id, err)
			}
			for it := media.NewRTCPIter(plain); it.Next(); {
				if p := it.Packet(); p.Type == media.RTCPTypeSDES {
					for sd := media.NewSDESIter(p); sd.Next(); {
						ch := sd.Chunk()
						v.names[ch.SSRC], v.dnames[ch.SSRC] = string(ch.CNAME), string(ch.Name)
					}
				}
			}
			return
		}
		plain, h, err := c.in.DecryptRTP(b)
		if err != nil {
			t.Fatalf("%s: RTP: %v", c.pt.id, err)
		}
		v.mixPkts++
		for i := range int(h.CSRCCount) {
			cs := h.CSRC(plain, i)
			v.csrcs[cs]++
			if _, ok := v.names[cs]; !ok {
				v.unnamed++
			}
		}
		if _, ok := v.names[h.SSRC]; !ok {
			t.Fatalf("%s: mixed packet before its SSRC was named", c.pt.id)
		}
	}
	pkts := make([][]byte, len(r.cli))
	for range 40 {
		for i, c := range r.cli {
			pkts[i] = nil
			if c.freq > 0 {
				pkts[i] = r.packet(c)
			}
		}
		r.frame(pkts)
	}
	p0, p1, p2 := r.cli[0].pt, r.cli[1].pt, r.cli[2].pt
	for _, c := range r.cli {
		v := views[c.pt.addr]
		if v.mixPkts < 30 {
			t.Fatalf("%s got %d mixed packets", c.pt.id, v.mixPkts)
		}
		if v.unnamed != 0 {
			t.Errorf("%s: %d CSRCs listed before they were named", c.pt.id, v.unnamed)
		}
		if v.names[c.pt.serverSSRC] != "mix:room" || v.dnames[c.pt.serverSSRC] != "mix" {
			t.Errorf("%s: its mix is named %q/%q", c.pt.id, v.names[c.pt.serverSSRC], v.dnames[c.pt.serverSSRC])
		}
		if v.csrcs[c.pt.ssrc] != 0 {
			t.Errorf("%s is listed in its own mix", c.pt.id)
		}
		if v.csrcs[p2.ssrc] != 0 {
			t.Errorf("%s: the silent member is listed in the mix", c.pt.id)
		}
	}
	want := map[*mixClient][]uint32{r.cli[0]: {p1.ssrc}, r.cli[1]: {p0.ssrc}, r.cli[2]: {p0.ssrc, p1.ssrc}}
	for c, ssrcs := range want {
		v := views[c.pt.addr]
		for _, s := range ssrcs {
			if v.csrcs[s] < 25 {
				t.Errorf("%s: %d listed in only %d of %d packets", c.pt.id, s, v.csrcs[s], v.mixPkts)
			}
		}
		for s := range v.csrcs {
			if !slices.Contains(ssrcs, s) {
				t.Errorf("%s: unexpected CSRC %d", c.pt.id, s)
			}
		}
	}
	if v := views[p2.addr]; v.names[p0.ssrc] != "p0" || v.names[p1.ssrc] != "p1" || v.dnames[p1.ssrc] != "Bo" {
		t.Errorf("p2's roster: %v %v", v.names, v.dnames)
	}
}
