//go:build !linux

package netio

import (
	"errors"
	"log/slog"
	"net/netip"
)

const haveBatchIO = false

func openBatch(*Config, *slog.Logger) ([]shardConn, netip.AddrPort, bool, error) {
	return nil, netip.AddrPort{}, false, errors.New("netio: batched I/O needs Linux")
}
