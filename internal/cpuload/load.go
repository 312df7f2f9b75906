package cpuload

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sampler measures the process's CPU use as a percentage of the CPUs it
// may use (the container's allowance): CPU time over a sliding window
// divided by the window and by the allowance, then smoothed. Call Sample
// regularly (voxd: every second); Percent is safe from any goroutine.
type Sampler struct {
	// Window is the sliding window. Default 10 s.
	Window time.Duration
	// Smoothing is the weight of a new window value in the exponentially
	// weighted average, 0 < Smoothing <= 1. Default 0.5.
	Smoothing float64
	// Allowance is the number of CPUs the process may use. Default
	// CPUAllowance(): cgroup v2 cpu.max, else the number of CPUs.
	Allowance float64
	// ProcessCPU returns the process's total CPU time (user + system).
	// Default: getrusage.
	ProcessCPU func() (time.Duration, error)

	mu      sync.Mutex // guards below
	samples []cpuSample
	percent float64
	primed  bool
}

type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// Sample takes a measurement at now and returns the smoothed percentage.
func (s *Sampler) Sample(now time.Time) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Window == 0 {
		s.Window = 10 * time.Second
	}
	if s.Smoothing <= 0 || s.Smoothing > 1 {
		s.Smoothing = 0.5
	}
	if s.Allowance <= 0 {
		s.Allowance = CPUAllowance()
	}
	if s.ProcessCPU == nil {
		s.ProcessCPU = processCPU
	}
	cpu, err := s.ProcessCPU()
	if err != nil {
		return s.percent, err
	}
	s.samples = append(s.samples, cpuSample{now, cpu})
	// Keep the newest sample at or before now-Window as the window's start.
	for len(s.samples) > 2 && !s.samples[1].at.After(now.Add(-s.Window)) {
		s.samples = s.samples[1:]
	}
	first := s.samples[0]
	wall := now.Sub(first.at)
	if wall <= 0 {
		return s.percent, nil
	}
	pct := 100 * float64(cpu-first.cpu) / float64(wall) / s.Allowance
	pct = math.Max(0, pct)
	if !s.primed {
		s.percent, s.primed = pct, true
	} else {
		s.percent += s.Smoothing * (pct - s.percent)
	}
	return s.percent, nil
}

// Percent is the last smoothed value.
func (s *Sampler) Percent() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.percent
}

// CPUAllowance is the number of CPUs this process may use: the cgroup v2
// quota (cpu.max "QUOTA PERIOD") when one is set, else the number of CPUs.
func CPUAllowance() float64 {
	if n, err := cgroupCPUs("/sys/fs/cgroup/cpu.max"); err == nil {
		return n
	}
	return float64(runtime.NumCPU())
}

var errNoQuota = errors.New("no cgroup CPU quota")

// cgroupCPUs parses a cgroup v2 cpu.max file.
func cgroupCPUs(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[0] == "max" {
		return 0, errNoQuota
	}
	quota, err1 := strconv.ParseFloat(f[0], 64)
	period, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || quota <= 0 || period <= 0 {
		return 0, errors.New("malformed cpu.max: " + strings.TrimSpace(string(b)))
	}
	return quota / period, nil
}
