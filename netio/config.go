package netio

import (
	"fmt"
	"net/netip"
	"runtime"
	"time"
)

// Defaults. DefaultMaxDatagram leaves room for any voice packet on a 1500-byte
// MTU path; larger datagrams are truncated by the kernel, dropped and counted.
const (
	DefaultBatchSize    = 64
	DefaultMaxDatagram  = 1500
	DefaultTickInterval = 5 * time.Millisecond
	DefaultSocketBuffer = 8 << 20
	DefaultSendQueue    = 512
	DefaultMailbox      = 1024

	// MaxShards caps the shard count: SO_REUSEPORT groups and the steering
	// program are sized for it, and more shards than cores only cost.
	MaxShards = 64
	// MaxCoalesceBudget caps Config.CoalesceBudget: a pause longer than
	// this would eat into a voice packet's latency objective.
	MaxCoalesceBudget = 2 * time.Millisecond
	// MaxBatchSize is the kernel's UIO_MAXIOV limit for one recvmmsg/sendmmsg.
	MaxBatchSize = 1024
)

// Config configures a Server. The zero value of every field means its
// default; Validate fills them in.
type Config struct {
	// Addr is the UDP address to bind, "host:port". An empty host binds
	// every interface, IPv6 and IPv4 (dual stack) where the host has IPv6.
	Addr string
	// Shards is the number of sockets (and goroutines) on Addr. Default
	// GOMAXPROCS, capped at MaxShards. The portable fallback always uses 1.
	Shards int
	// BatchSize is the most datagrams one recvmmsg returns. Default 64.
	BatchSize int
	// MaxDatagram is the largest datagram accepted, in bytes; anything
	// larger is dropped and counted as truncated. Default 1500.
	MaxDatagram int
	// SendQueue is the capacity of each shard's send queue in datagrams; a
	// full queue is flushed early. Default 512 (fan-out of 8 per batch of 64).
	SendQueue int
	// TickInterval is the longest a shard sleeps without traffic before it
	// runs its handler's Tick and its mailbox. Default 5 ms.
	TickInterval time.Duration
	// RecvBuffer and SendBuffer are the socket buffer sizes asked for
	// (SO_RCVBUFFORCE, else SO_RCVBUF capped by net.core.rmem_max).
	// Default 8 MiB each.
	RecvBuffer int
	SendBuffer int
	// NoSteering disables the SSRC steering program: packets are spread by
	// the kernel's 4-tuple hash instead.
	NoSteering bool
	// NoLockOSThread lets shard goroutines migrate between OS threads. By
	// default each shard is locked to its thread, which blocks in recvmmsg.
	NoLockOSThread bool
	// Mailbox is the capacity of each shard's control mailbox. Default 1024.
	Mailbox int
	// CoalesceBudget turns on adaptive receive coalescing (coalesce.go):
	// after a small batch at a packet rate high enough, a shard pauses up
	// to this long before its next receive so that datagrams accumulate
	// and arrive as one batch. It bounds the extra time a datagram waits.
	// 0 (the default) is off; Linux batched I/O only (the portable shard
	// ignores it). At most MaxCoalesceBudget.
	CoalesceBudget time.Duration

	// maxSleep bounds one idle sleep of a shard (see TickScheduler).
	// Default defaultMaxSleep; tests make it long, so that a lost wake-up
	// shows as a hang rather than as a delay.
	maxSleep time.Duration
}

// defaultMaxSleep is the longest an idle shard sleeps at a time.
const defaultMaxSleep = time.Second

// Validate checks c and fills in the defaults. It returns an error wrapping
// ErrBadConfig that names the field.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return fmt.Errorf("%w: empty address", ErrBadConfig)
	}
	if _, err := parseBindAddr(c.Addr); err != nil {
		return fmt.Errorf("%w: address %q: %w", ErrBadConfig, c.Addr, err)
	}
	if c.Shards == 0 {
		c.Shards = min(runtime.GOMAXPROCS(0), MaxShards)
	}
	if c.Shards < 1 || c.Shards > MaxShards {
		return fmt.Errorf("%w: shards %d outside 1..%d", ErrBadConfig, c.Shards, MaxShards)
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		return fmt.Errorf("%w: batch size %d outside 1..%d", ErrBadConfig, c.BatchSize, MaxBatchSize)
	}
	if c.MaxDatagram == 0 {
		c.MaxDatagram = DefaultMaxDatagram
	}
	if c.MaxDatagram < 64 || c.MaxDatagram > 65535 {
		return fmt.Errorf("%w: max datagram %d outside 64..65535", ErrBadConfig, c.MaxDatagram)
	}
	if c.SendQueue == 0 {
		c.SendQueue = max(DefaultSendQueue, c.BatchSize)
	}
	if c.SendQueue < 1 || c.SendQueue > 8*MaxBatchSize {
		return fmt.Errorf("%w: send queue %d outside 1..%d", ErrBadConfig, c.SendQueue, 8*MaxBatchSize)
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.TickInterval < 100*time.Microsecond || c.TickInterval > time.Second {
		return fmt.Errorf("%w: tick interval %v outside 100µs..1s", ErrBadConfig, c.TickInterval)
	}
	if c.RecvBuffer == 0 {
		c.RecvBuffer = DefaultSocketBuffer
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSocketBuffer
	}
	if c.RecvBuffer < 0 || c.SendBuffer < 0 {
		return fmt.Errorf("%w: negative socket buffer", ErrBadConfig)
	}
	if c.Mailbox == 0 {
		c.Mailbox = DefaultMailbox
	}
	if c.Mailbox < 1 {
		return fmt.Errorf("%w: mailbox %d < 1", ErrBadConfig, c.Mailbox)
	}
	if c.CoalesceBudget < 0 || c.CoalesceBudget > MaxCoalesceBudget {
		return fmt.Errorf("%w: coalesce budget %v outside 0..%v", ErrBadConfig, c.CoalesceBudget, MaxCoalesceBudget)
	}
	if c.maxSleep == 0 {
		c.maxSleep = defaultMaxSleep
	}
	return nil
}

// bindAddr is a parsed Config.Addr.
type bindAddr struct {
	ip   netip.Addr // invalid = every interface
	port uint16
}

func parseBindAddr(s string) (bindAddr, error) {
	if len(s) > 0 && s[0] == ':' {
		p, err := parsePort(s[1:])
		return bindAddr{port: p}, err
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return bindAddr{}, err
	}
	if ap.Addr().Zone() != "" {
		return bindAddr{}, fmt.Errorf("IPv6 zones are not supported")
	}
	return bindAddr{ip: ap.Addr(), port: ap.Port()}, nil
}

func parsePort(s string) (uint16, error) {
	ap, err := netip.ParseAddrPort("0.0.0.0:" + s)
	if err != nil {
		return 0, err
	}
	return ap.Port(), nil
}
