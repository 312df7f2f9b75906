//go:build opus

package main

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voxfleet/vox/mixer"
)

var updateMixFrames = flag.Bool("update-mix-frames", false, "rewrite testdata/mix-frames.bin from the encoder")

// encodeMixFrames makes one second of a voice-like signal (a 220 Hz tone
// with its octave, its loudness swinging at 3 Hz between -24 and -12
// dBFS) as the mixer's encoder would send it: 48 kHz mono, 20 ms frames,
// 32 kbit/s, no DTX.
func encodeMixFrames(t *testing.T) [][]byte {
	enc, err := mixer.NewEncoder(mixer.EncoderOptions{Bitrate: 32000})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pcm := make([]int16, mixer.FrameSamples)
	out := make([]byte, mixer.MaxOpusPacket)
	var frames [][]byte
	for f := range 50 {
		for i := range pcm {
			n := float64(f*len(pcm) + i)
			sec := n / 48000
			amp := 0.0631 + 0.0874*(0.5+0.5*math.Sin(2*math.Pi*3*sec)) // -24..-12 dBFS
			v := amp * (0.7*math.Sin(2*math.Pi*220*sec) + 0.3*math.Sin(2*math.Pi*440*sec))
			pcm[i] = int16(v * 32767)
		}
		n, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), out[:n]...))
	}
	return frames
}

// The embedded frames are real Opus: each decodes to one 20 ms frame and
// none is DTX. With -update-mix-frames they are made again first.
func TestMixFrames(t *testing.T) {
	if *updateMixFrames {
		b := appendMixFrames(nil, encodeMixFrames(t))
		if err := os.WriteFile(filepath.Join("testdata", "mix-frames.bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Skip("rewrote testdata/mix-frames.bin: build again to embed it")
	}
	dec, err := mixer.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pcm := make([]int16, mixer.FrameSamples)
	for i, f := range mixFrames {
		n, err := dec.Decode(f, pcm)
		if err != nil || n != mixer.FrameSamples || mixer.IsDTX(f) {
			t.Fatalf("frame %d (%d bytes): %d samples, %v", i, len(f), n, err)
		}
	}
	if len(mixFrames) != 50 {
		t.Fatalf("%d frames", len(mixFrames))
	}
}

// voxbench --mix against the real server parts with libopus: every
// listener gets its mixed stream with nothing lost, from the other
// talkers, on time.
func TestSteadyMix(t *testing.T) {
	addr, _ := realVoxd(t)
	r := runBench(t, "steady", "--admin", addr, "--token", "bench-token", "--sessions", "2", "--size", "4", "--talkers", "3",
		"--warmup", "500ms", "--duration", "1500ms", "--linger", "300ms", "--json", "--mix", "--max-loss", "0", "--max-p99", "2s")
	res := decode(t, r)
	if r.code != exitOK || !res.Objectives.Met {
		t.Fatalf("exit %d, objectives %+v\nstderr %s", r.code, res.Objectives, r.stderr)
	}
	if res.LatencyKind != "mix_lateness" || res.Mix == nil || res.Mix.FrameBytes < 20 {
		t.Fatalf("latency kind %q, mix %+v", res.LatencyKind, res.Mix)
	}
	// Every participant hears a mix (p3 listens, p0..p2 hear the other
	// two): about 75 packets each in 1.5 s (fewer if the machine stalls
	// the shard), none lost.
	if len(res.Listeners) != 8 || res.Delivered != res.Expected || res.StreamsDead != 0 || res.Mix.Packets != res.Delivered {
		t.Fatalf("listeners %d delivered %d expected %d dead %d mix %+v", len(res.Listeners), res.Delivered, res.Expected, res.StreamsDead, res.Mix)
	}
	for _, l := range res.Listeners {
		if l.Expected < 50 || l.Expected > 77 || l.Delivered != l.Expected {
			t.Errorf("listener %+v", l)
		}
	}
	if res.Latency.Samples != res.Delivered || res.Latency.P99US < res.Latency.P50US || res.Misrouted != 0 || res.Generator.Undecryptable != 0 {
		t.Fatalf("latency %+v misrouted %d undecryptable %d", res.Latency, res.Misrouted, res.Generator.Undecryptable)
	}
	// The table names what it measured.
	r = runBench(t, "steady", "--admin", addr, "--token", "bench-token", "--sessions", "1", "--size", "3", "--talkers", "3",
		"--warmup", "200ms", "--duration", "500ms", "--linger", "200ms", "--mix")
	if r.code != exitOK || !strings.Contains(r.stdout, "mix lateness") || !strings.Contains(r.stdout, "mixed streams") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
