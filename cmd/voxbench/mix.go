package main

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/voxfleet/vox/bench/stats"
	"github.com/voxfleet/vox/media"
)

// Mix mode (--mix): the sessions are mix sessions, so the server decodes
// every talker's Opus frame, mixes each listener's mix once per 20 ms tick,
// encodes it and sends the listener one stream of its own (its server SSRC,
// the contributors as CSRCs). The talkers therefore send real Opus: the
// frames of testdata/mix-frames.bin (one second of a voice-like tone at
// 32 kbit/s, made by libopus; TestMixFrames, -tags opus, checks them and
// rewrites them with -update-mix-frames), frame n of every talker being
// frame n mod 50, so that a GSO batch's segments keep one size.
//
// A mixed packet carries no send time (it mixes several talkers' frames),
// so mix mode measures, per listener:
//   - loss from the mixed stream's sequence numbers (the server numbers the
//     packets it sends), over the packets that arrived in the window:
//     expected = highest - lowest + 1;
//   - lateness: the server stamps tick k with RTP timestamp ts0 + 960 k, so
//     arrival - ts/48 kHz is constant for a server that ticks on time; the
//     listener's smallest value is its baseline and each packet's excess
//     over it is its lateness (the server's tick running late, queueing in
//     its send path, the kernel), reported as the run's latency;
//   - skipped ticks (timestamps that advanced by more than 960 between
//     consecutive packets: a tick that sent nothing, e.g. all its inputs
//     late) and short mixes (fewer contributors than the other talkers).

//go:embed testdata/mix-frames.bin
var mixFramesBin []byte

// mixFrames are the Opus frames talkers send in mix mode.
var mixFrames = mustParseMixFrames(mixFramesBin)

// mixFrameTicks is the RTP timestamp step of one 20 ms tick at 48 kHz.
const mixFrameTicks = 960

// parseMixFrames reads frames stored as a 2-byte big-endian length and
// the frame, repeated.
func parseMixFrames(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("mix frames: truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if n < 3 || n > 1200 || len(b) < 2+n {
			return nil, fmt.Errorf("mix frames: frame %d: bad length %d", len(out), n)
		}
		out = append(out, b[2:2+n:2+n])
		b = b[2+n:]
	}
	if len(out) == 0 {
		return nil, errors.New("mix frames: none")
	}
	return out, nil
}

func mustParseMixFrames(b []byte) [][]byte {
	f, err := parseMixFrames(b)
	if err != nil {
		panic(err)
	}
	return f
}

// appendMixFrames is parseMixFrames' inverse.
func appendMixFrames(b []byte, frames [][]byte) []byte {
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// mixFrame is every talker's Opus frame n.
func mixFrame(n uint32) []byte { return mixFrames[n%uint32(len(mixFrames))] }

// maxMixFrame is the largest of the frames.
func maxMixFrame() int {
	m := 0
	for _, f := range mixFrames {
		m = max(m, len(f))
	}
	return m
}

// mixRecv is one listener's mixed stream, touched only by its receiver.
// Duplicates, reordering and jitter are a stats.Stream's, over the
// extended sequence numbers counted from base.
type mixRecv struct {
	stream  stats.Stream
	base    int64 // extended sequence number of stream's 0
	n       uint64
	short   uint64 // packets listing fewer contributors than expected
	skipped uint64 // ticks without a packet between two packets
	seq     extCounter
	ts      extCounter
	minSeq  int64
	maxSeq  int64
	lastTS  int64 // extended timestamp of the packet with the highest sequence number
	rel     []int64
}

// mixReorderRoom is how far before the first packet received a late one
// may still be counted (older ones count as outside the window).
const mixReorderRoom = 256

// extCounter extends a wrapping 16- or 32-bit counter to int64 around the
// last value seen.
type extCounter struct {
	ok   bool
	last int64
}

func (e *extCounter) ext16(v uint16) int64 {
	if !e.ok {
		e.ok, e.last = true, int64(v)
		return e.last
	}
	x := e.last + int64(int16(v-uint16(e.last)))
	e.last = max(e.last, x)
	return x
}

func (e *extCounter) ext32(v uint32) int64 {
	if !e.ok {
		e.ok, e.last = true, int64(v)
		return e.last
	}
	x := e.last + int64(int32(v-uint32(e.last)))
	e.last = max(e.last, x)
	return x
}

// deliverMix accounts one mixed packet received by r at arrival.
func (b *bench) deliverMix(r *receiver, h media.RTPHeader, arrival time.Time) {
	at := arrival.Sub(b.epoch)
	if at < time.Duration(b.wStart.Load()) || at >= time.Duration(b.wEnd.Load()) {
		r.outside++
		return
	}
	m := r.mix
	s := m.seq.ext16(h.SequenceNumber)
	ts := m.ts.ext32(h.Timestamp)
	if m.stream.Received == 0 && m.stream.Duplicates == 0 {
		m.base = s - mixReorderRoom
	}
	if s < m.base || s-m.base > 1<<31 {
		r.outside++
		return
	}
	// ns since the epoch minus the tick's time on the server's clock
	// (ts / 48 kHz): its minimum is the listener's baseline.
	rel := int64(at) - ts*62500/3
	if !m.stream.Add(uint32(s-m.base), time.Duration(rel)) {
		return // a duplicate
	}
	if m.n == 0 {
		m.minSeq, m.maxSeq, m.lastTS = s, s, ts
	} else {
		if s == m.maxSeq+1 && ts-m.lastTS > mixFrameTicks {
			m.skipped += uint64((ts - m.lastTS - 1) / mixFrameTicks)
		}
		if s > m.maxSeq {
			m.maxSeq, m.lastTS = s, ts
		}
		m.minSeq = min(m.minSeq, s)
	}
	m.n++
	if int(h.CSRCCount) < r.mixContributors {
		m.short++
	}
	m.rel = append(m.rel, rel)
}

// mixResult fills lr and the run's histogram from r's mixed stream.
func (b *bench) mixResult(r *receiver, lr *ListenerResult, all *stats.Histogram, mr *MixResult) {
	m := r.mix
	if r.mixContributors == 0 {
		return // nobody else talks: it expects no mix
	}
	if m.n == 0 {
		lr.Expected = uint64(b.c.duration / framePause)
		lr.DeadFrom = 1
		return
	}
	lr.Expected = uint64(m.maxSeq-m.minSeq) + 1
	lr.Delivered = min(m.n, lr.Expected)
	lr.Duplicates, lr.Reordered = m.stream.Duplicates, m.stream.Reordered
	base := slices.Min(m.rel)
	for _, v := range m.rel {
		late := time.Duration(v - base)
		r.hist.Record(late)
	}
	all.Merge(&r.hist)
	lr.P99US = usf(r.hist.Quantile(0.99))
	mr.Packets += m.n
	mr.TicksSkipped += m.skipped
	mr.Short += m.short
}

// MixResult is what a --mix run measured beyond loss and lateness.
type MixResult struct {
	// Packets is the mixed packets received in the window.
	Packets uint64 `json:"packets"`
	// TicksSkipped counts ticks that sent a listener nothing between two
	// packets it got (its timestamp advanced by more than one frame).
	TicksSkipped uint64 `json:"ticks_skipped"`
	// Short counts packets whose mix listed fewer contributors (CSRCs)
	// than the other talkers of the session: a talker's frame missed
	// the tick.
	Short uint64 `json:"short"`
	// FrameBytes is the mean Opus frame the talkers sent.
	FrameBytes float64 `json:"frame_bytes"`
}

// meanMixFrame is the talkers' mean frame size.
func meanMixFrame() float64 {
	t := 0
	for _, f := range mixFrames {
		t += len(f)
	}
	return float64(t) / float64(len(mixFrames))
}
