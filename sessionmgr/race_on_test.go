//go:build race

package sessionmgr

const raceEnabled = true
