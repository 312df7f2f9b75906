//go:build !linux

package netio

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

const haveBatchIO = false

func openBatch(*Config, *slog.Logger) ([]shardConn, netip.AddrPort, bool, error) {
	return nil, netip.AddrPort{}, false, errors.New("netio: batched I/O needs Linux")
}

// setTimerSlack: coalescing pauses only on Linux; nothing to set.
func setTimerSlack(time.Duration) {}
