package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// blastCmd is steady with the talkers sending flat out instead of every
// 20 ms: the raw forwarding ceiling of one session layout. The status is
// polled every --sample for the peak rates; loss and latency are as in
// steady (latency under overload mostly measures queues).
func blastCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	c, code, ok := parseBench("blast", "voxbench blast — talkers send flat out through one session layout: the highest rate seen and the loss.\n\nUsage: voxbench blast [flags]", args, lookup, stderr,
		func(c *steadyConfig) {
			c.sessions, c.size, c.talkers = 1, 4, 1
			c.duration, c.warmup = 3*time.Second, 500*time.Millisecond
			c.sampleEvery = 500 * time.Millisecond
			c.interval = 0 // flat out (set before validate, which checks it)
		}, nil)
	if !ok {
		return code
	}
	if c.sampleEvery <= 0 {
		c.sampleEvery = 500 * time.Millisecond
	}
	res, err := runSteady(ctx, c, progressWriter(stderr))
	if err != nil {
		return setupFailed(ctx, stderr, err)
	}
	if !c.jsonOut {
		fmt.Fprintf(stdout, "blast: peak %.0f pps in, %.0f pps forwarded (polled every %s); over the window %.0f in, %.0f forwarded, loss %.3f %%\n\n",
			res.Server.PeakRxPPS, res.Server.PeakForwardedPPS, c.sampleEvery, res.Server.RxPPS, res.Server.ForwardedPPS, res.LossPct)
	}
	return report(c, res, stdout, stderr)
}
