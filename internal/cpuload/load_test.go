package cpuload

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSamplerWindowAndSmoothing(t *testing.T) {
	var cpu time.Duration
	s := &Sampler{Window: 4 * time.Second, Smoothing: 1, Allowance: 2,
		ProcessCPU: func() (time.Duration, error) { return cpu, nil }}
	t0 := time.Unix(1000, 0)
	s.Sample(t0)
	// One full CPU of two for 2 s: 50 %.
	cpu += 2 * time.Second
	if p, _ := s.Sample(t0.Add(2 * time.Second)); math.Abs(p-50) > 0.01 {
		t.Fatalf("got %.2f%%, want 50%%", p)
	}
	// Idle for 4 s: the window (4 s) now only holds idle time.
	if p, _ := s.Sample(t0.Add(6 * time.Second)); math.Abs(p-0) > 0.01 {
		t.Fatalf("after idle window: %.2f%%, want 0%%", p)
	}
	// Smoothing 0.5 halves the step.
	s2 := &Sampler{Window: time.Second, Smoothing: 0.5, Allowance: 1,
		ProcessCPU: func() (time.Duration, error) { return cpu, nil }}
	s2.Sample(t0)
	cpu += time.Second
	p1, _ := s2.Sample(t0.Add(time.Second)) // first value taken as is: 100 %
	p2, _ := s2.Sample(t0.Add(2 * time.Second))
	if math.Abs(p1-100) > 0.01 || math.Abs(p2-50) > 0.01 || math.Abs(s2.Percent()-50) > 0.01 {
		t.Fatalf("smoothing: %.1f then %.1f", p1, p2)
	}
}

func TestSamplerReal(t *testing.T) {
	s := &Sampler{Window: time.Second}
	now := time.Now()
	if _, err := s.Sample(now); err != nil {
		t.Skip("no process CPU time here:", err)
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU
	}
	p, err := s.Sample(time.Now())
	if err != nil || p <= 0 || p > 100*float64(2)+1 {
		t.Fatalf("%.1f%% %v", p, err)
	}
}

func TestCgroupCPUs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		content string
		want    float64
		ok      bool
	}{
		{"200000 100000\n", 2, true},
		{"150000 100000", 1.5, true},
		{"max 100000\n", 0, false},
		{"garbage", 0, false},
		{"-1 100000", 0, false},
	} {
		p := filepath.Join(dir, "cpu.max")
		os.WriteFile(p, []byte(c.content), 0o600)
		got, err := cgroupCPUs(p)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%q: %v %v", c.content, got, err)
		}
	}
	if _, err := cgroupCPUs(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file")
	}
	if CPUAllowance() <= 0 {
		t.Error("no allowance")
	}
}
