package ctest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/media"
)

// member is one participant of the mixed-language session.
type member struct {
	id, name string
	freq     float64
	adm      [2]api.Admission // on server A, then B
	c        *cproc           // a C client (nil: the Go client)
}

// goListener records what the Go client hears: the Opus payloads of each
// speaker, keyed by the participant id the roster gave its SSRC and the
// server (0: A, 1: B).
type goListener struct {
	mu      sync.Mutex
	p       *client.Participant
	frames  map[string][][]byte
	server  int
	unnamed int
}

// TestMixedLanguageSession: three C clients (voxc on libvoxc, one of them
// the AddressSanitizer build, one behind a relay that tampers) and a Go
// client in one forward session on a real vox server. Each hears the
// others' tones (Goertzel) under the right participant ids, learnt from
// the server's SDES roster through libsrtp (the C clients) and through
// package client (the Go client), with the admissions' display names.
// Tampered, forged and replayed packets injected on the path are ignored.
// Then a reconnect notice moves every member to a second server, where
// they hear each other again under their new SSRCs; the Go client's
// leaving reaches the C clients as an RTCP BYE.
func TestMixedLanguageSession(t *testing.T) {
	start := time.Now()
	tlog := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }
	voxc, voxcASan := build(t)
	tlog("built")
	a, b := startVoxd(t), startVoxd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const sid = "match-7"

	members := []*member{
		{id: "c-one", name: "C One", freq: 440},
		{id: "c-two", name: "Zoë ✓", freq: 620},
		{id: "c-asan", name: "", freq: 820},
		{id: "go-four", name: "Go Four", freq: 1020},
	}
	// Every member is heard by every other (speaker selection does not
	// choose among them).
	opts := &api.SessionOptions{MaxSpeakers: len(members)}
	for _, m := range members {
		var err error
		m.adm[0], err = a.api.Admit(ctx, sid, api.AdmitRequest{ParticipantID: m.id, DisplayName: m.name, Session: opts})
		if err != nil {
			t.Fatal(err)
		}
	}
	// GET /v1/sessions/{id} shows the display names.
	info, err := a.api.Session(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range info.Participants {
		for _, m := range members {
			if p.ID == m.id && p.DisplayName != m.name {
				t.Errorf("session info: %s has display name %q, want %q", p.ID, p.DisplayName, m.name)
			}
		}
	}

	// The Go client: it sends a tone voxc encoded (package client does no
	// Opus), follows the reconnect notice by admitting itself on B, and
	// keeps what it hears by roster name.
	opusFile := filepath.Join(t.TempDir(), "go.opus")
	if out, err := exec.Command(voxc, "encode", "--tone", fmt.Sprint(members[3].freq), "--frames", "250",
		"--out", opusFile).CombinedOutput(); err != nil {
		t.Fatalf("voxc encode: %v\n%s", err, out)
	}
	frames := readFrames(t, opusFile)
	gl := &goListener{frames: map[string][][]byte{}}
	gm := members[3]
	var gp *client.Participant
	gp, err = client.Join(ctx, gm.adm[0], client.Options{
		RTCPInterval: time.Second,
		OnRTP: func(pk *client.Packet) {
			sp, ok := gp.Speaker(pk.Header.SSRC)
			gl.mu.Lock()
			defer gl.mu.Unlock()
			if !ok {
				gl.unnamed++
				return
			}
			key := fmt.Sprintf("%s/%d", sp.ParticipantID, gl.server)
			gl.frames[key] = append(gl.frames[key], append([]byte(nil), pk.Payload...))
		},
		Readmit: func(ctx context.Context, old api.Admission, _ media.ReconnectNotice) (api.Admission, error) {
			adm, err := b.api.Admit(ctx, sid, api.AdmitRequest{ParticipantID: gm.id, DisplayName: gm.name, Session: opts})
			gl.mu.Lock()
			gm.adm[1] = adm
			gl.mu.Unlock()
			return adm, err
		},
		OnMoved: func(_, _ api.Admission) {
			gl.mu.Lock()
			gl.server = 1
			gl.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	gl.p = gp
	defer gp.Close()
	stopGo := make(chan struct{})
	goDone := make(chan struct{})
	go func() {
		defer close(goDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopGo:
				return
			case <-tick.C:
			}
			_ = gp.SendWithLevel(frames[i%len(frames)], 30, true)
		}
	}()

	// The C clients; c-one through a tampering relay on server A.
	relay := startProxy(t, a.m.MediaAddr().Address+":"+fmt.Sprint(a.m.MediaAddr().Port))
	adm0 := members[0].adm[0]
	adm0.Media.Port = relay.port()
	members[0].c = startC(t, voxc, "c-one", adm0, members[0].freq)
	members[1].c = startC(t, voxc, "c-two", members[1].adm[0], members[1].freq)
	members[2].c = startC(t, voxcASan, "c-asan", members[2].adm[0], members[2].freq,
		"ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23", "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

	// Everybody's roster on A: each C client names the other three.
	checkRoster := func(srv int) {
		t.Helper()
		for _, m := range members[:3] {
			for _, o := range members {
				if o == m {
					continue
				}
				want := fmt.Sprintf("ROSTER %d %s %s", o.adm[srv].SSRC, o.id, o.name)
				m.c.wait("its roster entry for "+o.id, 10*time.Second, func(l string) bool {
					return strings.TrimRight(l, " ") == strings.TrimRight(want, " ")
				})
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok := true
			for _, o := range members[:3] {
				if sp, found := gp.Speaker(o.adm[srv].SSRC); !found || sp.ParticipantID != o.id || sp.Name != o.name {
					ok = false
				}
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Go client's roster on server %d: %v", srv, gp.Roster())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// talk waits until every member has heard at least 2 s of every
	// other on server srv (the machine may be loaded: no fixed sleep).
	talk := func(srv int) {
		t.Helper()
		const want = 100
		deadline := time.Now().Add(30 * time.Second)
		for {
			short := ""
			for _, m := range members {
				for _, o := range members {
					if o == m {
						continue
					}
					var n uint64
					if m.c != nil {
						n = m.c.heard(o.adm[srv].SSRC)
					} else {
						gl.mu.Lock()
						n = uint64(len(gl.frames[fmt.Sprintf("%s/%d", o.id, srv)]))
						gl.mu.Unlock()
					}
					if n < want {
						short = fmt.Sprintf("%s heard %d packets of %s", m.id, n, o.id)
					}
				}
			}
			if short == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %d: %s (want %d)", srv, short, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	checkRoster(0)
	tlog("roster on A")

	// Tampering on the path to c-one: a reconnect notice under the right
	// keys with one bit of its tag flipped, one under other keys, a
	// replayed server RTCP packet, a genuine RTP packet with a flipped
	// payload bit, and garbage. None may act; all are counted.
	time.Sleep(300 * time.Millisecond)
	prof, err := media.ParseProfile(string(adm0.SRTP.Profile))
	if err != nil {
		t.Fatal(err)
	}
	out, err := media.NewOutbound(prof, media.Keys(adm0.SRTP.ServerToClient))
	if err != nil {
		t.Fatal(err)
	}
	notice := media.AppendReconnectNotice(nil, media.ReconnectNotice{SSRC: adm0.ServerSSRC, Reason: media.ReconnectDrain})
	for range 1000 { // past the server's SRTCP index: not a replay
		if _, err := out.EncryptRTCP(nil, append(make([]byte, 0, 64), notice...)); err != nil {
			t.Fatal(err)
		}
	}
	tampered, _ := out.EncryptRTCP(nil, append(make([]byte, 0, 64), notice...))
	tampered[len(tampered)-1] ^= 0x01
	relay.inject(tampered)
	keys, _ := media.GenerateSessionKeys(prof)
	other, _ := media.NewOutbound(prof, keys.ServerToClient)
	var forged []byte
	for range 1001 {
		forged, _ = other.EncryptRTCP(nil, append(make([]byte, 0, 64), notice...))
	}
	relay.inject(forged)
	rtp, rtcp := relay.captured()
	if rtcp == nil || rtp == nil {
		t.Fatal("the relay saw no server RTP or RTCP")
	}
	relay.inject(rtcp) // replayed
	_ = media.SetSequenceNumber(rtp, binary.BigEndian.Uint16(rtp[2:4])+100)
	relay.inject(rtp) // a genuine packet with its sequence number changed
	tlog("tampering injected")
	relay.inject([]byte{0x80, 0x00, 0x01})
	relay.inject([]byte("not a voice packet at all"))
	talk(0) // on A

	tlog("talked on A")
	if members[0].c.has(prefixed("RECONNECT")) {
		t.Fatal("c-one acted on a tampered or forged reconnect notice")
	}

	// The move: server A asks the session to reconnect; the C clients
	// print RECONNECT and get their admission on B on stdin (their routing
	// service, here), the Go client readmits itself.
	if _, err := a.api.Reconnect(ctx, api.ReconnectRequest{Rate: 100, Sessions: []string{sid}, Window: api.Duration(time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range members[:3] {
		m.c.wait("RECONNECT", 10*time.Second, prefixed("RECONNECT 1 "))
		adm, err := b.api.Admit(ctx, sid, api.AdmitRequest{ParticipantID: m.id, DisplayName: m.name, Session: opts})
		if err != nil {
			t.Fatal(err)
		}
		m.adm[1] = adm
		js, _ := json.Marshal(adm)
		m.c.send(string(js))
		m.c.wait("MOVED", 5*time.Second, prefixed(fmt.Sprintf("MOVED %d", adm.SSRC)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		gl.mu.Lock()
		moved := gl.server == 1
		gl.mu.Unlock()
		if moved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Go client did not move: %v", gp.LastMoveError())
		}
		time.Sleep(10 * time.Millisecond)
	}
	tlog("moved")
	checkRoster(1)
	tlog("roster on B")
	talk(1) // on B

	// The Go client leaves: the C clients get a BYE for its SSRC on B.
	close(stopGo)
	<-goDone
	if err := gp.Leave(); err != nil {
		t.Fatal(err)
	}
	for _, m := range members[:3] {
		m.c.wait("the Go client's BYE", 5*time.Second, prefixed(fmt.Sprintf("BYE %d", gm.adm[1].SSRC)))
	}
	tlog("BYE")
	stats := map[string]map[string]uint64{}
	for _, m := range members[:3] {
		stats[m.id] = m.c.finish()
		t.Logf("%s: %v", m.id, stats[m.id])
	}
	if s := stats["c-one"]; s["auth_failures"] < 3 || s["replays"] < 1 || s["malformed"] < 2 || s["moves"] != 1 {
		t.Errorf("c-one did not count the tampering: %v", s)
	}
	for _, m := range members[1:3] {
		if s := stats[m.id]; s["auth_failures"] != 0 || s["moves"] != 1 || s["notices"] < 1 {
			t.Errorf("%s: %v", m.id, s)
		}
	}

	tlog("C clients done")
	// What each C client heard, per speaker and server: the speaker's tone
	// loud, the others' absent.
	for _, m := range members[:3] {
		for _, o := range members {
			if o == m {
				continue
			}
			for srv, suffix := range []string{".wav", ".1.wav"} {
				pcm := readWAV(t, filepath.Join(m.c.out, o.id+suffix))
				checkTone(t, fmt.Sprintf("%s hears %s on server %d", m.id, o.id, srv), pcm, o.freq, members)
			}
		}
	}
	// What the Go client heard (decoded by voxc).
	gl.mu.Lock()
	defer gl.mu.Unlock()
	if gl.unnamed != 0 {
		t.Errorf("the Go client got %d packets from SSRCs the roster had not named", gl.unnamed)
	}
	for _, o := range members[:3] {
		for srv := range 2 {
			key := fmt.Sprintf("%s/%d", o.id, srv)
			pcm := decodeFrames(t, voxc, gl.frames[key])
			checkTone(t, fmt.Sprintf("go-four hears %s on server %d", o.id, srv), pcm, o.freq, members)
		}
	}
}

// checkTone: past the first 200 ms, pcm carries freq at ≥ 0.3 of the
// talkers' 6000 amplitude and the other members' frequencies at ≤ 0.05.
func checkTone(t *testing.T, what string, pcm []int16, freq float64, members []*member) {
	t.Helper()
	const skip = 48000 / 5
	if len(pcm) < skip+48000/2 {
		t.Errorf("%s: only %d samples", what, len(pcm))
		return
	}
	x := pcm[skip:]
	for _, o := range members {
		amp := goertzel(x, o.freq) / 6000
		switch {
		case o.freq == freq && amp < 0.3:
			t.Errorf("%s: its %.0f Hz tone at only %.3f", what, freq, amp)
		case o.freq != freq && amp > 0.05:
			t.Errorf("%s: %.0f Hz (not its tone) at %.3f", what, o.freq, amp)
		}
	}
}

// readFrames reads voxc encode's output: 2-byte big-endian lengths, then
// the Opus frames.
func readFrames(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if 2+n > len(b) {
			t.Fatal("truncated Opus file")
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	if len(out) == 0 {
		t.Fatal("no Opus frames")
	}
	return out
}

// decodeFrames decodes Opus frames with voxc decode.
func decodeFrames(t *testing.T, voxc string, frames [][]byte) []int16 {
	t.Helper()
	dir := t.TempDir()
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	in, out := filepath.Join(dir, "in.opus"), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command(voxc, "decode", "--in", in, "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("voxc decode: %v\n%s", err, o)
	}
	return readWAV(t, out)
}
