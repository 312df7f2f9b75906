//go:build opus

package ctest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// TestMixSessionC: three C clients in a mix session (vox built with -tags
// opus). Each receives one stream, its server SSRC, which the roster names
// as the mix ("MIX" line, CNAME mix:<session>); the packets' CSRC lists
// name the other two members (read by libvoxc after libsrtp, each CSRC
// named by the roster before it appears), never the listener; the decoded
// mix carries the other two tones and not the listener's own.
func TestMixSessionC(t *testing.T) {
	voxc, _ := build(t)
	a := startVoxd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const sid = "mix-1"
	members := []*member{{id: "m-one", freq: 440}, {id: "m-two", name: "Two", freq: 620}, {id: "m-three", freq: 820}}
	for _, m := range members {
		var err error
		m.adm[0], err = a.api.Admit(ctx, sid, api.AdmitRequest{ParticipantID: m.id, DisplayName: m.name,
			Session: &api.SessionOptions{Mix: true}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range members {
		m.c = startC(t, voxc, m.id, m.adm[0], m.freq)
	}
	for _, m := range members {
		m.c.wait("its mix named", 10*time.Second, prefixed(fmt.Sprintf("MIX %d mix", m.adm[0].ServerSSRC)))
	}
	// Wait for 2 s of mix at every member, and for a CSRC line naming
	// both others.
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range members {
		var want []string
		for _, o := range members {
			if o != m {
				want = append(want, fmt.Sprintf("%d=%s", o.adm[0].SSRC, o.id))
			}
		}
		slices.Sort(want)
		m.c.wait("a mix listing both others", time.Until(deadline), func(l string) bool {
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != "CSRCS" || f[1] != fmt.Sprint(m.adm[0].ServerSSRC) {
				return false
			}
			got := slices.Clone(f[2:])
			slices.Sort(got)
			return slices.Equal(got, want)
		})
		for time.Now().Before(deadline) && m.c.heard(m.adm[0].ServerSSRC) < 100 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, m := range members {
		st := m.c.finish()
		if st["auth_failures"] != 0 || st["malformed"] != 0 {
			t.Errorf("%s: %v", m.id, st)
		}
		m.c.mu.Lock()
		for _, l := range m.c.lines {
			if rest, ok := strings.CutPrefix(l, "CSRCS "); ok {
				if strings.Contains(rest, "=?") {
					t.Errorf("%s: a CSRC the roster had not named: %s", m.id, l)
				}
				if strings.Contains(rest, fmt.Sprintf(" %d=", m.adm[0].SSRC)) {
					t.Errorf("%s is listed in its own mix: %s", m.id, l)
				}
			}
			if strings.HasPrefix(l, "HEARD ") && !strings.HasPrefix(l, fmt.Sprintf("HEARD %d ", m.adm[0].ServerSSRC)) {
				t.Errorf("%s received a stream other than its mix: %s", m.id, l)
			}
		}
		m.c.mu.Unlock()
		pcm := readWAV(t, filepath.Join(m.c.out, "mix.wav"))
		if len(pcm) < 48000 {
			t.Fatalf("%s: %d samples of mix", m.id, len(pcm))
		}
		x := pcm[len(pcm)/4:]
		for _, o := range members {
			amp := goertzel(x, o.freq) / 6000
			t.Logf("%s hears %.0f Hz at %.3f", m.id, o.freq, amp)
			if o == m && amp > 0.05 {
				t.Errorf("%s hears its own tone at %.3f", m.id, amp)
			}
			if o != m && amp < 0.2 {
				t.Errorf("%s hears %s at only %.3f", m.id, o.id, amp)
			}
		}
	}
}
