//go:build race

package client

// raceEnabled: the race detector's instrumentation changes inlining and
// escape analysis (and some crypto code paths), so allocation counts are
// only asserted without it.
const raceEnabled = true
