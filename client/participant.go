package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// Defaults of Options.
const (
	// DefaultPayloadType is the RTP payload type of Opus that vox clients
	// use (dynamic, as browsers and most SDKs number it).
	DefaultPayloadType = 111
	// DefaultFrameSamples is the RTP timestamp increment of one 20 ms Opus
	// frame at the 48 kHz RTP clock.
	DefaultFrameSamples = 960
	// DefaultMaxPacketSize is the largest datagram a participant sends or
	// receives by default.
	DefaultMaxPacketSize = 1500
)

// Options configure a Participant. The zero value is ready to use.
type Options struct {
	// LocalAddr is the local address to bind, "ip" or "ip:port". Empty
	// lets the kernel pick the source address of its route to the server
	// (127.0.0.1 for a server on loopback) and an ephemeral port. Rebind
	// keeps the IP and takes a new ephemeral port.
	LocalAddr string
	// RemoteAddr ("host:port") overrides the admission's Media address.
	RemoteAddr string
	// PayloadType is the RTP payload type sent; 0 means
	// DefaultPayloadType (111, Opus).
	PayloadType uint8
	// FrameSamples is the RTP timestamp increment per packet sent; 0
	// means DefaultFrameSamples (960: 20 ms at 48 kHz).
	FrameSamples uint32
	// MaxPacketSize is the largest datagram sent or received; 0 means
	// DefaultMaxPacketSize. Larger datagrams received are dropped and
	// counted as Truncated.
	MaxPacketSize int
	// ReadBuffer sets the socket's receive buffer (SO_RCVBUF) when
	// positive.
	ReadBuffer int
	// RTCPInterval, when positive, makes the reader goroutine send an
	// RTCP report (as SendRTCP) that often, which keeps a silent
	// participant alive on the server. Zero sends RTCP only on SendRTCP.
	RTCPInterval time.Duration

	// OnRTP is called on the reader goroutine for every authenticated RTP
	// packet, with a Packet and slices owned by the reader: valid only
	// during the call. It may call Send, SendRTCP and the accessors, not
	// Close or Leave (start a goroutine for those).
	OnRTP func(p *Packet)
	// OnRTCP is called on the reader goroutine for every sub-packet of
	// every authenticated RTCP compound packet, aliasing the reader's
	// buffer, with the same rules as OnRTP.
	OnRTCP func(pkt media.RTCPPacket)
	// OnReconnect is called on the reader goroutine for authenticated,
	// non-replayed reconnect notices whose sender SSRC is the admission's
	// ServerSSRC, with the same rules as OnRTP. Without Readmit it is
	// called for every such copy (the server sends each notice a few
	// times, each copy with its own SRTCP index); with Readmit only for
	// the notice that starts a move (repeats are deduplicated, see
	// Readmit).
	OnReconnect func(n media.ReconnectNotice)

	// Readmit, when set, makes the participant follow reconnect notices
	// (reasons drain and shutdown; not removed or session closed, which
	// only reach OnReconnect) by itself (see reconnect.go and
	// Participant's documentation): on
	// the first accepted notice from its current server it waits a random
	// moment in the notice's window, sends a BYE to that server, calls
	// Readmit for a new admission (the routing service's job, typically
	// into the same session id on another server), and switches to it.
	// Readmit is called on a goroutine of the participant, with the
	// admission being left and the notice; ctx is cancelled by Close, and
	// Readmit must return soon after (Close waits for it). Errors that
	// report Temporary() true (an *APIError with 429/502/503/504) are
	// retried, at most ReadmitAttempts attempts in all.
	Readmit func(ctx context.Context, old api.Admission, notice media.ReconnectNotice) (api.Admission, error)
	// OnMoved is called after a successful switch, on the participant's
	// move goroutine (not the reader): it may call Send and the
	// accessors, not Close or Leave.
	OnMoved func(old, new api.Admission)
	// OnMoveFailed is called, on the move goroutine, when a move is given
	// up: Readmit failed for good (or ran out of attempts) or its
	// admission was unusable. The participant stays on its server.
	// Same rules as OnMoved. Close during a move calls neither.
	OnMoveFailed func(old api.Admission, notice media.ReconnectNotice, err error)
	// ReconnectDelay returns how long to wait after an accepted notice
	// before leaving, given the notice's window; nil means a uniformly
	// random duration in [0, window) (0 for a zero window). Negative
	// results count as 0. Tests inject it.
	ReconnectDelay func(window time.Duration) time.Duration
	// ReadmitAttempts bounds the calls to Readmit per move; 0 means
	// DefaultReadmitAttempts.
	ReadmitAttempts int
	// ReadmitBackoff is the wait before the first retry, doubled (with
	// jitter) for each further one and capped at MaxReadmitBackoff; an
	// *APIError's RetryAfter, if longer, is waited instead (still
	// capped). 0 means DefaultReadmitBackoff.
	ReadmitBackoff time.Duration
}

// Packet is an authenticated, decrypted RTP packet handed to
// Options.OnRTP. It and its slices belong to the reader goroutine and are
// reused for the next packet.
type Packet struct {
	// Header is the parsed header; Header.SSRC is the sender.
	Header media.RTPHeader
	// Raw is the whole plaintext RTP packet (Header's offsets index it).
	Raw []byte
	// Payload is the payload, without header and padding.
	Payload []byte
	// Arrival is when the reader received the datagram.
	Arrival time.Time
	// AudioLevel is the RFC 6464 level (0 loudest .. 127 silence) of the
	// packet's audio level extension (the admission's extension id), -1
	// if it carries none; Voice is its V flag.
	AudioLevel int
	Voice      bool
}

// Participant is one game client on the media plane: Opus over SRTP/UDP
// between its own UDP socket and the server an Admission names. Make one
// with Join. Its methods are safe for concurrent use; Send and the other
// senders serialize on one mutex.
//
// With Options.Readmit a participant moves to another server when its
// server asks it to (a reconnect notice): new socket, SSRC, keys, sequence
// and timestamp base; Send keeps working throughout (see Readmit and
// reconnect.go).
type Participant struct {
	pt     uint8
	frame  uint32
	maxPkt int
	opts   Options
	epoch  time.Time // monotonic origin of ReceiveStats arrival times

	// path is the current server and socket. It is replaced (by Rebind
	// and by a move) and its conn closed (by those and Close) only with
	// sendMu held; the reader loads it without.
	path      atomic.Pointer[path]
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed when the reader goroutine exits

	// ctx is cancelled by Close; it bounds a move's waits and Readmit.
	ctx    context.Context
	cancel context.CancelFunc

	// moveMu guards the move state (reconnect.go).
	moveMu      sync.Mutex
	moving      bool          // a move's goroutine is running
	moveDone    chan struct{} // closed when the last move's goroutine exits; nil if none
	lastMoveErr error

	// sendMu guards the send side: out, the fields below, and the
	// replacement and closing of the path's conn.
	sendMu     sync.Mutex
	out        *media.Outbound
	ssrc       uint32 // the current admission's SSRC
	extID      uint8  // the current admission's audio level extension id
	dropping   bool   // between the BYE to the old server and the switch
	seq        uint16
	ts         uint32
	marker     bool
	anySent    bool
	lastTS     uint32    // timestamp of the last RTP packet sent
	lastSendAt time.Time // when it was sent
	srPackets  uint32    // SR sender's packet count (wraps)
	srOctets   uint32    // SR sender's octet count (payload bytes, wraps)
	sendBuf    []byte    // RTP packet built and encrypted in place
	rtcpBuf    []byte    // RTCP packet built and encrypted in place
	scratch    []byte    // report blocks encoded by media.AppendReceiverReport
	blocks     [31]media.ReportBlock

	// Owned by the reader goroutine: rx is the path whose socket it reads
	// (and whose Inbound decrypts), set at Join and replaced by the reader
	// only when the path changed.
	rx      *path
	recvBuf []byte
	pkt     Packet

	// rxMu guards the receive-side state shared with other goroutines.
	rxMu         sync.Mutex
	senders      map[uint32]*sender
	ros          roster // the server's roster (roster.go)
	lastSender   *sender
	serverReport media.ReportBlock
	serverRRAt   time.Time
	lastNotice   media.ReconnectNotice
	lastNoticeAt time.Time

	c counters
}

// path is one server the participant talks to, and the socket it uses:
// immutable once stored in Participant.path. Rebind makes a new path with
// the same server (gen, in) and a new conn; a move one with everything
// new and gen+1.
type path struct {
	conn   *net.UDPConn
	in     *media.Inbound // server-to-client; used only by the reader
	adm    *api.Admission
	remote *net.UDPAddr
	gen    uint64 // number of moves before this server
}

// sender is the receive state of one SSRC the server forwarded; guarded
// by Participant.rxMu.
type sender struct {
	ssrc    uint32
	stats   media.ReceiveStats
	level   int  // last audio level, -1 if none
	heard   bool // packets since the last report block
	lastSeq uint16
}

// Join opens a participant for the admission adm: a UDP socket connected
// to adm.Media (or opts.RemoteAddr), an SRTP Outbound with the
// client-to-server keys, an Inbound with the server-to-client keys, and
// the reader goroutine. ctx bounds the name lookup of the media address,
// if it is not an IP. Nothing is sent until Send or SendRTCP (or the first
// RTCPInterval).
func Join(ctx context.Context, adm api.Admission, opts Options) (*Participant, error) {
	out, in, err := SRTPContexts(adm.SRTP)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	remote, err := resolveMedia(ctx, adm.Media, opts.RemoteAddr)
	if err != nil {
		return nil, err
	}
	laddr, err := parseLocal(opts.LocalAddr)
	if err != nil {
		return nil, err
	}
	p := &Participant{
		ssrc:    adm.SSRC,
		pt:      opts.PayloadType,
		frame:   opts.FrameSamples,
		extID:   adm.AudioLevelExtensionID,
		maxPkt:  opts.MaxPacketSize,
		opts:    opts,
		epoch:   time.Now(),
		done:    make(chan struct{}),
		out:     out,
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		marker:  true,
		senders: make(map[uint32]*sender),
	}
	if p.pt == 0 {
		p.pt = DefaultPayloadType
	}
	if p.frame == 0 {
		p.frame = DefaultFrameSamples
	}
	if p.maxPkt <= 0 {
		p.maxPkt = DefaultMaxPacketSize
	}
	p.sendBuf = make([]byte, 0, p.maxPkt)
	p.rtcpBuf = make([]byte, 0, 1500)
	p.scratch = make([]byte, 0, 8+31*media.ReportBlockSize)
	p.recvBuf = make([]byte, p.maxPkt+1) // one more byte to detect truncation
	conn, err := p.dial(laddr, remote)
	if err != nil {
		return nil, err
	}
	p.rx = &path{conn: conn, in: in, adm: &adm, remote: remote}
	p.path.Store(p.rx)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.readLoop()
	return p, nil
}

func resolveMedia(ctx context.Context, m api.MediaAddr, override string) (*net.UDPAddr, error) {
	host, port := m.Address, m.Port
	if override != "" {
		h, ps, err := net.SplitHostPort(override)
		if err != nil {
			return nil, fmt.Errorf("client: remote address %q: %w", override, err)
		}
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("client: remote address %q: bad port", override)
		}
		host, port = h, int(n)
	}
	if host == "" || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("client: no usable media address %q port %d", host, port)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil {
			return nil, fmt.Errorf("client: media address: %w", lerr)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("client: media address %q: no IP", host)
		}
		ip = ips[0]
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
}

func parseLocal(s string) (*net.UDPAddr, error) {
	if s == "" {
		return nil, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.UDPAddrFromAddrPort(ap), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("client: local address %q: want ip or ip:port", s)
	}
	return &net.UDPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}, nil
}

// dial opens a UDP socket bound to laddr (nil: any) and connected to the
// server remote: the kernel then drops datagrams from any other source and
// Write needs no address.
func (p *Participant) dial(laddr, remote *net.UDPAddr) (*net.UDPConn, error) {
	c, err := net.DialUDP("udp", laddr, remote)
	if err != nil {
		return nil, fmt.Errorf("client: open media socket: %w", err)
	}
	if p.opts.ReadBuffer > 0 {
		// Best effort: the kernel caps it at net.core.rmem_max.
		_ = c.SetReadBuffer(p.opts.ReadBuffer)
	}
	return c, nil
}

// Admission returns the participant's current admission: the one it
// joined with, or the last one it moved to.
func (p *Participant) Admission() api.Admission { return *p.path.Load().adm }

// SSRC returns the participant's own SSRC (its current admission's).
func (p *Participant) SSRC() uint32 { return p.path.Load().adm.SSRC }

// LocalAddr returns the current local address of the participant's socket
// (it changes with Rebind and with a move).
func (p *Participant) LocalAddr() *net.UDPAddr {
	a, _ := p.path.Load().conn.LocalAddr().(*net.UDPAddr)
	return a
}

// RemoteAddr returns the current server's media address (it changes with
// a move).
func (p *Participant) RemoteAddr() *net.UDPAddr { return p.path.Load().remote }

// Server returns the current server's media address as an AddrPort, handy
// to tell servers apart (it changes with a move).
func (p *Participant) Server() netip.AddrPort { return p.path.Load().remote.AddrPort() }

// Done returns a channel closed when the reader goroutine has exited
// (after Close).
func (p *Participant) Done() <-chan struct{} { return p.done }

// NextRTP returns the sequence number and timestamp the next RTP packet
// will carry.
func (p *Participant) NextRTP() (seq uint16, ts uint32) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.seq, p.ts
}

// Send sends one RTP packet (one frame) with the payload: payload type
// Options.PayloadType, the participant's SSRC, the next sequence number,
// the timestamp advanced by Options.FrameSamples per packet, the marker
// bit on the first packet and on the first after Skip. A packet whose
// write fails still uses up its sequence number, as a packet lost on the
// way would. It does not allocate.
func (p *Participant) Send(payload []byte) error {
	return p.send(payload, false, 0, false)
}

// SendWithLevel is Send with an RFC 6464 audio level header extension
// (RFC 8285 one-byte form, id Admission.AudioLevelExtensionID): level 0
// (loudest, 0 dBov) .. 127 (silence), voice the V flag. It returns
// media.ErrInvalidArgument, sending nothing, if the level is above 127 or
// the admission has no valid extension id. It does not allocate.
func (p *Participant) SendWithLevel(payload []byte, level uint8, voice bool) error {
	return p.send(payload, true, level, voice)
}

func (p *Participant) send(payload []byte, ext bool, level uint8, voice bool) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if p.dropping {
		p.c.moveDrops.Add(1)
		return nil
	}
	f := media.RTPFields{
		Marker:         p.marker,
		PayloadType:    p.pt,
		SequenceNumber: p.seq,
		Timestamp:      p.ts,
		SSRC:           p.ssrc,
	}
	b := p.sendBuf[:0]
	if ext {
		var err error
		if b, err = media.AppendRTPHeaderWithAudioLevel(b, f, p.extID, level, voice); err != nil {
			return err
		}
	} else {
		b = media.AppendRTPHeader(b, f)
	}
	if len(b)+len(payload)+p.out.Profile().RTPOverhead() > cap(p.sendBuf) {
		return ErrPayloadTooLarge
	}
	b = append(b, payload...)
	pkt, err := p.out.EncryptRTP(b[:0], b)
	if err != nil {
		return err
	}
	now := time.Now()
	p.lastTS, p.lastSendAt, p.anySent = p.ts, now, true
	p.seq++
	p.ts += p.frame
	p.marker = false
	p.srPackets++
	p.srOctets += uint32(len(payload))
	if _, err := p.path.Load().conn.Write(pkt); err != nil {
		p.c.sendErrors.Add(1)
		return err
	}
	p.c.sent.Add(1)
	p.c.sentBytes.Add(uint64(len(pkt)))
	return nil
}

// Skip advances the RTP timestamp by frames frames without sending
// anything, as a client using DTX does while silent, and sets the marker
// bit on the next packet (the start of a talkspurt).
func (p *Participant) Skip(frames int) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.ts += uint32(frames) * p.frame
	p.marker = true
}

// Rebind moves the participant to a new local socket (same local IP, a new
// ephemeral port) mid-stream, keeping its server, SRTP state and sequence,
// as when a NAT rebinds: the server must follow after the next
// authenticated packet. Datagrams still queued on the old socket are lost.
func (p *Participant) Rebind() error {
	p.sendMu.Lock()
	if p.closed.Load() {
		p.sendMu.Unlock()
		return ErrClosed
	}
	cur := p.path.Load()
	old := cur.conn
	var laddr *net.UDPAddr
	if a, ok := old.LocalAddr().(*net.UDPAddr); ok {
		laddr = &net.UDPAddr{IP: a.IP, Zone: a.Zone}
	}
	// The new socket is opened while the old one is still bound, so its
	// port differs.
	nc, err := p.dial(laddr, cur.remote)
	if err != nil {
		p.sendMu.Unlock()
		return err
	}
	np := *cur
	np.conn = nc
	p.path.Store(&np)
	p.sendMu.Unlock()
	p.c.rebinds.Add(1)
	// The reader, blocked on old, wakes with an error, sees that the path
	// changed, and carries on with nc.
	if err := old.Close(); err != nil {
		return fmt.Errorf("client: close old socket: %w", err)
	}
	return nil
}

// Close closes the socket and waits for the reader goroutine, and for a
// pending move's goroutine (its wait and Readmit are cancelled), to exit.
// It sends nothing (Leave sends a BYE first). Close is idempotent; it must
// not be called from a handler of Options.
func (p *Participant) Close() error {
	p.closeOnce.Do(func() {
		p.sendMu.Lock()
		p.closed.Store(true)
		p.closeErr = p.path.Load().conn.Close()
		p.sendMu.Unlock()
		p.cancel()
	})
	// closed is set: no move starts from now on (startMove checks it
	// under moveMu).
	p.moveMu.Lock()
	moving := p.moveDone
	p.moveMu.Unlock()
	if moving != nil {
		<-moving
	}
	<-p.done
	return p.closeErr
}

// Leave sends an SRTCP BYE for the participant's SSRC, so the server frees
// it at once, then closes the participant. It must not be called from a
// handler of Options.
func (p *Participant) Leave() error {
	err := p.SendBye()
	if cerr := p.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// readLoop is the reader goroutine: it owns in, recvBuf and pkt.
func (p *Participant) readLoop() {
	defer close(p.done)
	var (
		cur      *net.UDPConn
		nextRTCP time.Time
	)
	interval := p.opts.RTCPInterval
	for {
		pa := p.path.Load()
		if pa != p.rx {
			p.rx = pa // Rebind or a move replaced the path
		}
		c := pa.conn
		if interval > 0 && c != cur {
			if nextRTCP.IsZero() {
				nextRTCP = time.Now().Add(interval)
			}
			_ = c.SetReadDeadline(nextRTCP)
		}
		cur = c
		n, err := c.Read(p.recvBuf)
		if err != nil {
			if p.closed.Load() {
				return
			}
			if p.path.Load() != pa {
				continue // Rebind or a move replaced the socket
			}
			if interval > 0 && errors.Is(err, errDeadline) {
				if err := p.SendRTCP(); err != nil && !errors.Is(err, ErrClosed) {
					p.c.sendErrors.Add(1)
				}
				nextRTCP = time.Now().Add(interval)
				_ = c.SetReadDeadline(nextRTCP)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ECONNREFUSED after an ICMP port unreachable, and the like.
			p.c.readErrors.Add(1)
			time.Sleep(time.Millisecond) // never spin on a persistent error
			continue
		}
		if n > p.maxPkt {
			p.c.truncated.Add(1)
			continue
		}
		p.handleDatagram(p.recvBuf[:n], time.Now())
	}
}
