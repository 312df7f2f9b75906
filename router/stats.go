package router

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencyRing is how many recent admission latencies the percentiles of
// /v1/status are computed from.
const latencyRing = 4096

// rateBuckets is the span, in seconds, of the admissions-per-second rate.
const rateBuckets = 10

// stats are the router's counters for /v1/status and /metrics.
type stats struct {
	admissions, failed, retries, noPod atomic.Uint64
	moves, splits, reports             atomic.Uint64
	suspensions, adoptions, spills     atomic.Uint64
	gameServerExits                    atomic.Uint64 // GameServers taken out by the Agones view

	mu      sync.Mutex // guards the fields below
	lat     [latencyRing]time.Duration
	added   [latencyRing]time.Duration // the router's part of each (admission.go)
	latN    int                        // latencies recorded (saturates the ring)
	latNext int
	buckets [rateBuckets]struct {
		sec int64
		n   uint64
	}
}

// admission records one admission's outcome and latency, ending at now.
func (s *stats) admission(now time.Time, d, added time.Duration, err error) {
	if err != nil {
		s.failed.Add(1)
		return
	}
	s.admissions.Add(1)
	sec := now.Unix()
	s.mu.Lock()
	s.lat[s.latNext], s.added[s.latNext] = d, added
	s.latNext = (s.latNext + 1) % latencyRing
	s.latN = min(s.latN+1, latencyRing)
	b := &s.buckets[sec%rateBuckets]
	if b.sec != sec {
		b.sec, b.n = sec, 0
	}
	b.n++
	s.mu.Unlock()
}

// rate is the successful admissions per second over the last rateBuckets
// whole seconds before now's.
func (s *stats) rate(now time.Time) (perSecond float64, window time.Duration) {
	sec := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, b := range s.buckets {
		if b.sec < sec && b.sec >= sec-rateBuckets {
			n += b.n
		}
	}
	return float64(n) / rateBuckets, rateBuckets * time.Second
}

// percentiles returns the qs quantiles (0..1) of the recent latencies.
func (s *stats) percentiles(qs ...float64) []time.Duration {
	s.mu.Lock()
	lat := slices.Clone(s.lat[:s.latN])
	s.mu.Unlock()
	return quantiles(lat, qs)
}

// addedPercentiles returns the qs quantiles of what the router added to
// the recent admissions (their latency but the pods' answers).
func (s *stats) addedPercentiles(qs ...float64) []time.Duration {
	s.mu.Lock()
	lat := slices.Clone(s.added[:s.latN])
	s.mu.Unlock()
	return quantiles(lat, qs)
}

func quantiles(lat []time.Duration, qs []float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if len(lat) == 0 {
		return out
	}
	slices.Sort(lat)
	for i, q := range qs {
		out[i] = lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	return out
}
