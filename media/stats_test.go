package media

import (
	"math"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// feed gives s the sequence numbers seqs, each with timestamp seq*960 and
// arrival seq*20ms (a perfectly paced 20 ms Opus stream, 100-byte payloads),
// and returns the classifications.
func feed(s *ReceiveStats, seqs ...uint16) []SeqResult {
	var res []SeqResult
	for _, q := range seqs {
		res = append(res, s.Update(q, uint32(q)*960, 100, int64(q)*20*ms))
	}
	return res
}

func seqRange(from, to uint16) []uint16 {
	var r []uint16
	for q := from; ; q++ {
		r = append(r, q)
		if q == to {
			return r
		}
	}
}

func TestReceiveStatsSequences(t *testing.T) {
	for _, c := range []struct {
		name     string
		seqs     []uint16
		ext      uint32
		expected uint32
		received uint32
		lost     int64
		fraction uint8
		late     uint64
		jumps    uint64
		restarts uint64
	}{
		{"in order", seqRange(0, 99), 99, 100, 100, 0, 0, 0, 0, 0},
		{"two lost of ten", []uint16{0, 1, 2, 4, 5, 6, 8, 9}, 9, 10, 8, 2, 51, 0, 0, 0},
		{"reordered", []uint16{0, 1, 3, 2, 4}, 4, 5, 5, 0, 0, 1, 0, 0},
		{"duplicates", []uint16{0, 1, 1, 2, 2, 2}, 2, 3, 6, -3, 0, 3, 0, 0},
		{"wrap", seqRange(65533, 2), 65536 + 2, 6, 6, 0, 0, 0, 0, 0},
		{"reorder across wrap", []uint16{65534, 0, 65535, 1}, 65536 + 1, 4, 4, 0, 0, 1, 0, 0},
		{"loss across wrap", []uint16{65530, 65535, 4}, 65536 + 4, 11, 3, 8, 186, 0, 0, 0},
		{"big gap within dropout", []uint16{10, 2999}, 2999, 2990, 2, 2988, 255, 0, 0, 0},
		{"jump ignored", []uint16{100, 101, 9000, 102}, 102, 3, 3, 0, 0, 0, 1, 0},
		{"jump then restart", []uint16{100, 101, 9000, 9001, 9002}, 9002, 2, 2, 0, 0, 0, 1, 1},
		{"far-back packet ignored", []uint16{5000, 5001, 1000, 5002}, 5002, 3, 3, 0, 0, 0, 1, 0},
		{"restart backwards", []uint16{5000, 5001, 7, 8}, 8, 1, 1, 0, 0, 0, 1, 1},
		{"misorder limit (99 back)", []uint16{1000, 1001, 902}, 1001, 2, 3, -1, 0, 1, 0, 0},
		{"beyond misorder (100 back)", []uint16{1000, 1001, 901}, 1001, 2, 2, 0, 0, 0, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s ReceiveStats
			feed(&s, c.seqs...)
			rb := s.ReportBlock(0xAB, 0)
			if s.ExtHighestSeq() != c.ext || s.Expected() != c.expected || s.Received() != c.received ||
				s.CumulativeLost() != c.lost || rb.FractionLost != c.fraction || s.Late() != c.late ||
				s.Jumps() != c.jumps || s.Restarts() != c.restarts {
				t.Fatalf("ext %d exp %d rcv %d lost %d frac %d late %d jumps %d restarts %d",
					s.ExtHighestSeq(), s.Expected(), s.Received(), s.CumulativeLost(), rb.FractionLost, s.Late(), s.Jumps(), s.Restarts())
			}
			if rb.SSRC != 0xAB || rb.ExtHighestSeq != c.ext || int64(rb.CumulativeLost) != c.lost {
				t.Fatalf("block %+v", rb)
			}
			if s.Packets() != uint64(len(c.seqs)) || s.Bytes() != 100*uint64(len(c.seqs)) {
				t.Fatalf("packets %d bytes %d", s.Packets(), s.Bytes())
			}
		})
	}
}

func TestReceiveStatsResults(t *testing.T) {
	var s ReceiveStats
	got := feed(&s, 10, 11, 11, 13, 12, 20000, 20001, 20003)
	want := []SeqResult{SeqFirst, SeqInOrder, SeqLate, SeqInOrder, SeqLate, SeqJump, SeqRestart, SeqInOrder}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("packet %d: %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
}

func TestReceiveStatsIntervalLoss(t *testing.T) {
	var s ReceiveStats
	feed(&s, 0, 1, 2, 4, 5, 6, 8, 9) // 2 of 10 lost
	if rb := s.ReportBlock(1, 0); rb.FractionLost != 51 || rb.CumulativeLost != 2 {
		t.Fatalf("%+v", rb)
	}
	feed(&s, seqRange(10, 19)...) // none lost
	if rb := s.ReportBlock(1, 0); rb.FractionLost != 0 || rb.CumulativeLost != 2 {
		t.Fatalf("%+v", rb)
	}
	feed(&s, 20, 39) // 18 of 20 lost: 18*256/20 = 230
	if rb := s.ReportBlock(1, 0); rb.FractionLost != 230 || rb.CumulativeLost != 20 || rb.ExtHighestSeq != 39 {
		t.Fatalf("%+v", rb)
	}
	if r := s.LossRatio(); math.Abs(r-20.0/40) > 1e-12 {
		t.Fatalf("loss ratio %v", r)
	}
	// No packets since: the interval is empty.
	if rb := s.ReportBlock(1, 0); rb.FractionLost != 0 {
		t.Fatalf("%+v", rb)
	}
	var empty ReceiveStats
	if rb := empty.ReportBlock(1, 0); rb != (ReportBlock{SSRC: 1}) || empty.LossRatio() != 0 {
		t.Fatalf("%+v", rb)
	}
}

func TestReceiveStatsJitter(t *testing.T) {
	// Constant network delay: no jitter.
	var s ReceiveStats
	for i := range 100 {
		s.Update(uint16(i), uint32(i*960), 80, int64(i)*20*ms+50*ms)
	}
	if s.Jitter() != 0 {
		t.Fatalf("constant delay: jitter %d", s.Jitter())
	}

	// Every other packet 10 ms late: each transit differs from the
	// previous by 480 timestamp units, so |D| = 480 for every packet after
	// the first and J_n = 480 (1 - (15/16)^n) exactly (A.8 recurrence).
	s = ReceiveStats{}
	check := func(n int) {
		want := 480 * (1 - math.Pow(15.0/16, float64(n)))
		if math.Abs(s.jitter-want) > 1e-9 {
			t.Fatalf("after %d differences: %v, want %v", n, s.jitter, want)
		}
		if s.Jitter() != uint32(want) {
			t.Fatalf("Jitter() %d, want %d", s.Jitter(), uint32(want))
		}
	}
	for i := range 200 {
		late := int64(i%2) * 10 * ms
		s.Update(uint16(i), uint32(i*960), 80, int64(i)*20*ms+late)
		switch i {
		case 1:
			check(1) // 30
		case 2:
			check(2) // 58.125
		case 99:
			check(99) // 479.19
		}
	}
	if j := s.ReportBlock(1, 0).Jitter; j != 479 {
		t.Fatalf("report jitter %d", j)
	}

	// Clock rate: the same 10 ms pattern at 8 kHz is 80 units.
	s = ReceiveStats{ClockRate: 8000}
	for i := range 400 {
		s.Update(uint16(i), uint32(i*160), 80, int64(i)*20*ms+int64(i%2)*10*ms)
	}
	if s.Jitter() != 79 && s.Jitter() != 80 {
		t.Fatalf("8 kHz jitter %d", s.Jitter())
	}

	// RTP timestamps wrapping 2^32 do not disturb it.
	s = ReceiveStats{}
	base := uint32(math.MaxUint32 - 960*5)
	for i := range 20 {
		s.Update(uint16(i), base+uint32(i*960), 80, int64(i)*20*ms)
	}
	if s.Jitter() != 0 {
		t.Fatalf("timestamp wrap: %d", s.Jitter())
	}
	// Arrival times large enough to overflow a naive ns*rate product.
	s = ReceiveStats{}
	t0 := int64(math.MaxInt64 / 2)
	for i := range 20 {
		s.Update(uint16(i), uint32(i*960), 80, t0+int64(i)*20*ms)
	}
	if s.Jitter() != 0 {
		t.Fatalf("large clock: %d", s.Jitter())
	}
}

func TestReceiveStatsLSR(t *testing.T) {
	var s ReceiveStats
	feed(&s, 1, 2)
	if rb := s.ReportBlock(1, 5e9); rb.LSR != 0 || rb.DLSR != 0 {
		t.Fatalf("no SR yet: %+v", rb)
	}
	s.OnSenderReport(0x0000_1234_5678_0000, 1e9)
	if rb := s.ReportBlock(1, 1e9+500*ms); rb.LSR != 0x12345678 || rb.DLSR != 32768 {
		t.Fatalf("%+v", rb)
	}
	if rb := s.ReportBlock(1, 3e9+250*ms); rb.DLSR != 2*65536+16384 {
		t.Fatalf("%+v", rb)
	}
	if rb := s.ReportBlock(1, 0); rb.DLSR != 0 { // clock before the SR
		t.Fatalf("%+v", rb)
	}
}

func TestReceiveStatsZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	var s ReceiveStats
	i := 0
	a := testing.AllocsPerRun(1000, func() {
		i++
		s.Update(uint16(i), uint32(i*960), 100, int64(i)*20*ms)
		if i%50 == 0 {
			_ = s.ReportBlock(1, int64(i)*20*ms)
		}
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
