package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/voxfleet/vox/bench/stats"
	"github.com/voxfleet/vox/media"
)

func TestMixFramesFormat(t *testing.T) {
	if len(mixFrames) == 0 || maxMixFrame() < 3 || meanMixFrame() <= 0 {
		t.Fatalf("%d frames", len(mixFrames))
	}
	if !bytes.Equal(appendMixFrames(nil, mixFrames), mixFramesBin) {
		t.Fatal("frames do not round-trip")
	}
	for _, bad := range [][]byte{{}, {0}, {0, 2, 1, 2}, {0, 5, 1, 2, 3}, {0xff, 0xff}} {
		if _, err := parseMixFrames(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
	if &mixFrame(3)[0] != &mixFrame(3 + uint32(len(mixFrames)))[0] {
		t.Error("frame n is not frame n mod len")
	}
}

func TestExtCounter(t *testing.T) {
	var c extCounter
	for i, v := range []uint16{65534, 65535, 0, 1, 65535, 3} {
		want := []int64{65534, 65535, 65536, 65537, 65535, 65539}[i]
		if got := c.ext16(v); got != want {
			t.Fatalf("step %d: %d, want %d", i, got, want)
		}
	}
	var d extCounter
	if d.ext32(0xffffff00) != 0xffffff00 || d.ext32(0x100) != 0x100000100 {
		t.Fatal("32-bit wrap")
	}
}

// A listener's mixed stream: a tick skipped, one packet lost, one
// reordered and one duplicated; lateness against its earliest packet;
// packets outside the window not counted.
func TestDeliverMix(t *testing.T) {
	c := &steadyConfig{duration: time.Second}
	b := &bench{c: c, epoch: time.Now()}
	b.wStart.Store(int64(time.Second))
	b.wEnd.Store(int64(3 * time.Second))
	r := &receiver{mix: &mixRecv{}, mixContributors: 2}
	tick := func(seq uint16, k int, lateUS int, csrcs uint8) {
		ts := uint32(1000 + k*mixFrameTicks)
		at := time.Second + time.Duration(k)*framePause + time.Duration(lateUS)*time.Microsecond + 3*time.Millisecond
		b.deliverMix(r, media.RTPHeader{SequenceNumber: seq, Timestamp: ts, CSRCCount: csrcs}, b.epoch.Add(at))
	}
	b.deliverMix(r, media.RTPHeader{SequenceNumber: 1}, b.epoch.Add(time.Second/2)) // before the window
	tick(65534, 0, 0, 2)
	tick(65535, 1, 100, 2)
	// tick 2 sent nothing; 0 is tick 3, 1 (tick 4) is lost
	tick(0, 3, 0, 2)
	tick(3, 6, 2000, 1) // a short mix, 2 ms late
	tick(2, 5, 50, 2)   // reordered
	tick(2, 5, 50, 2)   // duplicate
	m := r.mix
	if r.outside != 1 || m.n != 5 || m.stream.Duplicates != 1 || m.stream.Reordered != 1 || m.skipped != 1 || m.short != 1 {
		t.Fatalf("%+v outside %d", m, r.outside)
	}
	var lr ListenerResult
	var all stats.Histogram
	var mr MixResult
	b.mixResult(r, &lr, &all, &mr)
	// seq 65534..65539 (extended): 6 expected, 5 delivered.
	if lr.Expected != 6 || lr.Delivered != 5 || lr.Duplicates != 1 || lr.Reordered != 1 || mr.Packets != 5 || mr.TicksSkipped != 1 || mr.Short != 1 {
		t.Fatalf("%+v %+v", lr, mr)
	}
	if all.Count() != 5 || all.Max() != 2*time.Millisecond {
		t.Fatalf("lateness: %d samples, max %v", all.Count(), all.Max())
	}
	// RFC 3550 jitter over the lateness 0, 0.1, 0, 2, 0.05 ms (arrival
	// order): 6.25, 12.1, 136.3, 249.7 µs.
	if j := m.stream.Jitter; j < 249*time.Microsecond || j > 250*time.Microsecond {
		t.Fatalf("jitter %v, want 249.7 µs", j)
	}
	// A listener that heard nothing of an expected mix is dead; one that
	// expects no mix (nobody else talks) counts nothing.
	dead := &receiver{mix: &mixRecv{}, mixContributors: 1}
	lr = ListenerResult{}
	b.mixResult(dead, &lr, &all, &mr)
	if lr.Expected != 50 || lr.DeadFrom != 1 || lr.Delivered != 0 {
		t.Fatalf("dead %+v", lr)
	}
	alone := &receiver{mix: &mixRecv{}}
	lr = ListenerResult{}
	b.mixResult(alone, &lr, &all, &mr)
	if lr.Expected != 0 {
		t.Fatalf("alone %+v", lr)
	}
}
