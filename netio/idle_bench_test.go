package netio

import (
	"context"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

// quietHandler has nothing to do, ever: a TickScheduler with nothing due.
type quietHandler struct{}

func (quietHandler) HandleBatch(int64, []Packet, *SendQueue) {}
func (quietHandler) Tick(int64, *SendQueue)                  {}
func (quietHandler) NextTick(int64) int64                    { return math.MaxInt64 }

// BenchmarkDoIdleShard measures how long a message Do posts to a shard that
// has been idle for a while (150 ms, not timed, before each call) waits
// until it runs: up to a tick while the shard wakes every tick, a wake-up
// when it sleeps. Reported: the median and the longest wait, and Do's
// whole time per call (ns/op, which adds the caller's own wake-up).
//
//	go test -run - -bench DoIdleShard -benchtime 40x ./netio/
func BenchmarkDoIdleShard(b *testing.B) {
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2) // a P beyond the shard's, as voxd gives
		b.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	srv, err := Listen(Config{Addr: "127.0.0.1:0", Shards: 1}, func(*Shard) Handler { return quietHandler{} },
		Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	sh := srv.Shard(0)
	ctx := context.Background()
	var waits []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		time.Sleep(150 * time.Millisecond)
		b.StartTimer()
		var ran int64
		posted := Now()
		if err := sh.Do(ctx, func(now int64, _ *SendQueue) { ran = Now() }); err != nil {
			b.Fatal(err)
		}
		waits = append(waits, time.Duration(ran-posted))
	}
	b.StopTimer()
	slices.Sort(waits)
	b.ReportMetric(float64(waits[len(waits)/2].Microseconds()), "p50-wait-µs")
	b.ReportMetric(float64(waits[len(waits)-1].Microseconds()), "max-wait-µs")
}
