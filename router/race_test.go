//go:build race

package router

// raceEnabled: the race detector slows the fleet tests several times.
const raceEnabled = true
