package main

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// Both transports and both receive modes of the shared one measure the
// same thing: every copy delivered, none lost, latency sane.
func TestSteadyTransports(t *testing.T) {
	addr, _ := realVoxd(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"socket", []string{"--transport", "socket"}},
		{"gso-poll", []string{"--transport", "gso", "--rx-poll", "200us", "--profile", "gcm", "--send-tick", "1ms"}},
		{"gso-block", []string{"--transport", "gso", "--rx-poll", "0", "--profile", "aes_cm_32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBench(t, steadyArgs(addr, append([]string{"--max-loss", "0", "--max-p99", "2s"}, tc.args...)...)...)
			res := decode(t, r)
			if r.code != exitOK || !res.Objectives.Met {
				t.Fatalf("exit %d, objectives %+v, stderr %q", r.code, res.Objectives, r.stderr)
			}
			if res.Sent < 4*60 || res.Expected != 3*res.Sent || res.Delivered != res.Expected || res.Misrouted != 0 || res.Duplicates != 0 {
				t.Fatalf("sent %d expected %d delivered %d misrouted %d dups %d", res.Sent, res.Expected, res.Delivered, res.Misrouted, res.Duplicates)
			}
			if res.Latency.Samples != res.Delivered || res.Latency.P50US <= 0 || res.Latency.P50US > 1e6 {
				t.Fatalf("latency %+v", res.Latency)
			}
			g := res.Generator
			if tc.name == "socket" {
				if g.Transport != "socket" || g.Sockets != 8 {
					t.Fatalf("generator %+v", g)
				}
				return
			}
			// 4 positions: 4 sockets; every participant heard the server's
			// receiver reports or at least decrypted everything.
			if g.Transport != "gso" || g.Sockets != 4 || g.Undecryptable != 0 || g.Truncated != 0 || g.Writes == 0 {
				t.Fatalf("generator %+v", g)
			}
			if want := map[string]float64{"gso-poll": 1000}[tc.name]; g.SendTickUS != want {
				t.Fatalf("send tick %v µs, want %v", g.SendTickUS, want)
			}
			if runtime.GOOS == "linux" && !g.GSO {
				t.Fatalf("the kernel refused GSO: %+v", g)
			}
		})
	}
}

func TestTransportUsage(t *testing.T) {
	for _, args := range [][]string{
		{"steady", "--transport", "quic"},
		{"steady", "--profile", "rot13"},
		{"steady", "--rx-poll", "-1ms"},
		{"steady", "--send-tick", "30ms"},
		{"steady", "--transport", "socket", "--sessions", "10000", "--size", "4"},
	} {
		r := runBench(t, args...)
		if r.code != exitUsage {
			t.Errorf("%q: exit %d stderr %q", args, r.code, r.stderr)
		}
	}
	// Frame sizes vary by -10..+10 bytes around --payload, all 21 of them.
	c := steadyConfig{payload: 120}
	sizes := map[int]bool{}
	for n := range uint32(21) {
		sizes[c.frameSize(n)] = true
	}
	if len(sizes) != 21 || !sizes[110] || !sizes[130] {
		t.Errorf("frame sizes %v", sizes)
	}
	if c.payload = hdrLen; c.frameSize(0) != hdrLen {
		t.Errorf("frame size below the header: %d", c.frameSize(0))
	}
	for name, want := range map[string]string{"aes_cm_80": "AES_CM_128_HMAC_SHA1_80", "GCM": "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_32": "AES_CM_128_HMAC_SHA1_32"} {
		p, err := parseProfile(name)
		if err != nil || p.String() != want {
			t.Errorf("%s: %v %v", name, p, err)
		}
	}
}

// A GSO message reaches a socket with UDP GRO whole: the reader reports
// the segment size, and the kernel's receive time.
func TestGSOAndGRO(t *testing.T) {
	if !gsoAvailable {
		t.Skip("no UDP GSO on " + runtime.GOOS)
	}
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	rd := newBatchReader(rx, 8, groBufSize)
	g := newGSOConn(tx)
	const seg = 100
	buf := make([]byte, 5*seg-30) // 4 full segments and a short last one
	for i := range buf {
		buf[i] = byte(i / seg)
	}
	before := time.Now().UnixNano()
	if err := g.writeSegments(buf, seg); err != nil {
		t.Skipf("kernel refused GSO: %v", err)
	}
	var msgs [][]byte
	var segs []int
	deadline := time.Now().Add(2 * time.Second)
	total := 0
	for total < len(buf) && time.Now().Before(deadline) {
		rx.SetReadDeadline(deadline)
		n, err := rd.read()
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			m, s, trunc, at := rd.message(i)
			if trunc || at < before || at > time.Now().UnixNano() {
				t.Fatalf("message %d: truncated %v, received at %d (sent after %d)", i, trunc, at, before)
			}
			msgs = append(msgs, append([]byte(nil), m...))
			segs = append(segs, s)
			total += len(m)
		}
	}
	if total != len(buf) {
		t.Fatalf("received %d of %d bytes", total, len(buf))
	}
	t.Logf("GRO %v: %d messages, segment sizes %v", rd.gro, len(msgs), segs)
	if rd.gro {
		// Loopback keeps the GSO message whole for a GRO socket.
		if len(msgs) != 1 || segs[0] != seg {
			t.Fatalf("%d messages, segment sizes %v", len(msgs), segs)
		}
	}
	// Either way the datagrams split at seg bytes carry their index.
	var all []byte
	for _, m := range msgs {
		all = append(all, m...)
	}
	for i, b := range all {
		if b != byte(i/seg) {
			t.Fatalf("byte %d is %d", i, b)
		}
	}
}
