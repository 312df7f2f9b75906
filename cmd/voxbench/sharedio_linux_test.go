package main

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// socketDrops counts what the kernel dropped at a full receive queue.
func TestSocketDrops(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	// The smallest receive buffer the kernel grants.
	rc, _ := rx.SyscallConn()
	rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1) })
	if d, ok := socketDrops(rx); !ok || d != 0 {
		t.Fatalf("fresh socket: %d drops, ok %v", d, ok)
	}
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	// rx reads nothing: its queue fills and the kernel drops the rest.
	for range 2000 {
		tx.Write(make([]byte, 200))
	}
	d, ok := socketDrops(rx)
	if !ok || d == 0 {
		t.Fatalf("%d drops counted at a full queue (ok %v)", d, ok)
	}
	t.Logf("%d of 2000 dropped", d)
}
