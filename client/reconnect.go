package client

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// Moving to another server when asked (Options.Readmit).
//
// A draining server sends each participant a reconnect notice (SRTCP APP
// VOX1, docs/protocol.md), repeated a few times. With Options.Readmit set,
// the participant acts on the first notice that
//
//   - authenticates with the current server's server-to-client SRTCP keys
//     and passes their replay window (anything else is dropped before it
//     is even parsed: Stats.RejectedRTCP),
//   - has the current admission's ServerSSRC as sender
//     (Stats.NoticesWrongSender otherwise),
//   - arrives while no move is under way (Stats.NoticeRepeats otherwise:
//     the server's repeats), and on the current server's socket (a
//     notice from a server already left is never acted on:
//     Stats.NoticesStale),
//
// calls Options.OnReconnect once for it, and starts a move on a goroutine
// of its own (never the reader, so that Readmit may take its time):
//
//  1. wait Options.ReconnectDelay(window), by default a uniformly random
//     moment in [0, window);
//  2. send an SRTCP BYE for the old SSRC to the old server, which frees
//     the participant there at once;
//  3. call Options.Readmit(ctx, old admission, notice), retrying errors
//     that report Temporary() (an *APIError 429/502/503/504) with a
//     jittered exponential backoff, at most Options.ReadmitAttempts calls;
//  4. switch: a new socket connected to the new admission's media address
//     (Options.RemoteAddr applies to Join only; Options.LocalAddr's IP is
//     kept, with a new ephemeral port), new SRTP contexts from its keys,
//     its SSRC, a fresh random sequence number and timestamp base with the
//     marker bit on the next packet, new sender report counts; then close
//     the old socket and call Options.OnMoved(old, new).
//
// Send keeps working throughout: before the BYE packets go to the old
// server (whose session mates that have not moved yet still hear them);
// between the BYE and the switch Send, SendWithLevel, SendRTCP and SendBye
// drop what they are given, count it (Stats.MoveDrops) and return nil, as
// a network losing the packets would (the old server no longer knows the
// SSRC, and the new one is not known yet); after the switch they go to the
// new server. The reader goes on calling the handlers of Options for the
// new server's packets; packets from the old server are never delivered
// after the switch: its socket is closed, and a datagram the reader took
// from it just before is dropped (Stats.Stale).
//
// If the move is given up (Readmit failed with a permanent error or
// attempts ran out, or its admission was unusable), Stats.ReadmitFailures
// counts it, LastMoveError returns its error, Options.OnMoveFailed is
// called, and the participant stays on its server and sends there again
// (though that server has had its BYE); a later notice from it starts a
// new move. Close during a move cancels it (the wait, Readmit's context,
// the backoff) and waits for its goroutine; a move cancelled so is not
// counted as failed.

// Defaults of the move options.
const (
	// DefaultReadmitAttempts is the number of calls to Readmit per move
	// when Options.ReadmitAttempts is 0.
	DefaultReadmitAttempts = 4
	// DefaultReadmitBackoff is the wait before the first retry of Readmit
	// when Options.ReadmitBackoff is 0.
	DefaultReadmitBackoff = 100 * time.Millisecond
	// MaxReadmitBackoff caps the wait between calls to Readmit.
	MaxReadmitBackoff = 5 * time.Second
)

// LastMoveError returns the error of the last move given up, nil if none
// was or if a move succeeded since.
func (p *Participant) LastMoveError() error {
	p.moveMu.Lock()
	defer p.moveMu.Unlock()
	return p.lastMoveErr
}

// Moving reports whether a move is under way (from the accepted notice
// to the switch or to giving up).
func (p *Participant) Moving() bool {
	p.moveMu.Lock()
	defer p.moveMu.Unlock()
	return p.moving
}

// startMove starts a move for the notice n received from rx's server, on
// the reader goroutine, unless the participant is closed or a move is
// under way (then it returns false: n is a repeat).
func (p *Participant) startMove(rx *path, n media.ReconnectNotice) bool {
	p.moveMu.Lock()
	defer p.moveMu.Unlock()
	if p.moving || p.closed.Load() || rx.gen != p.path.Load().gen {
		return false
	}
	p.moving = true
	done := make(chan struct{})
	p.moveDone = done
	go p.move(*rx.adm, n, done)
	return true
}

// move is the goroutine of one move away from the server of old.
func (p *Participant) move(old api.Admission, n media.ReconnectNotice, done chan struct{}) {
	defer close(done)
	defer func() {
		p.moveMu.Lock()
		p.moving = false
		p.moveMu.Unlock()
	}()

	delay := defaultReconnectDelay
	if p.opts.ReconnectDelay != nil {
		delay = p.opts.ReconnectDelay
	}
	if !p.sleep(delay(n.Window())) {
		return // closed
	}

	p.sendMu.Lock()
	if p.closed.Load() {
		p.sendMu.Unlock()
		return
	}
	// A failed write is counted (SendErrors); the old server times the
	// participant out instead.
	_ = p.sendByeLocked()
	p.dropping = true
	p.sendMu.Unlock()

	adm, err := p.readmit(old, n)
	if err == nil {
		err = p.switchTo(adm)
	}
	if err != nil {
		p.sendMu.Lock()
		p.dropping = false
		p.sendMu.Unlock()
		if p.ctx.Err() != nil {
			return // closed during the move: not a failure
		}
		p.c.readmitFailures.Add(1)
		p.moveMu.Lock()
		p.lastMoveErr = err
		p.moveMu.Unlock()
		if f := p.opts.OnMoveFailed; f != nil {
			f(old, n, err)
		}
		return
	}
	p.c.moves.Add(1)
	p.moveMu.Lock()
	p.lastMoveErr = nil
	p.moveMu.Unlock()
	if f := p.opts.OnMoved; f != nil {
		f(old, adm)
	}
}

// defaultReconnectDelay is a uniformly random duration in [0, window).
func defaultReconnectDelay(window time.Duration) time.Duration {
	if window <= 0 {
		return 0
	}
	return rand.N(window)
}

// sleep waits d unless the participant is closed first; it reports
// whether it was not.
func (p *Participant) sleep(d time.Duration) bool {
	if d <= 0 {
		return p.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// temporary reports whether err says that retrying may succeed.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// readmit calls Options.Readmit, retrying temporary errors with a
// jittered exponential backoff, at most ReadmitAttempts times.
func (p *Participant) readmit(old api.Admission, n media.ReconnectNotice) (api.Admission, error) {
	attempts := p.opts.ReadmitAttempts
	if attempts <= 0 {
		attempts = DefaultReadmitAttempts
	}
	backoff := p.opts.ReadmitBackoff
	if backoff <= 0 {
		backoff = DefaultReadmitBackoff
	}
	for i := 1; ; i++ {
		adm, err := p.opts.Readmit(p.ctx, old, n)
		if err == nil {
			return adm, nil
		}
		if p.ctx.Err() != nil {
			return api.Admission{}, err
		}
		if i >= attempts || !temporary(err) {
			return api.Admission{}, fmt.Errorf("client: readmit (attempt %d of %d): %w", i, attempts, err)
		}
		// Between half the backoff and the whole of it, or the server's
		// Retry-After if longer.
		d := backoff/2 + rand.N(backoff/2+1)
		var ae *APIError
		if errors.As(err, &ae) && ae.RetryAfter > d {
			d = ae.RetryAfter
		}
		d = min(d, MaxReadmitBackoff)
		p.c.readmitRetries.Add(1)
		if !p.sleep(d) {
			return api.Admission{}, p.ctx.Err()
		}
		backoff = min(2*backoff, MaxReadmitBackoff)
	}
}

// switchTo moves the participant to the server of adm: see the steps at
// the top of this file.
func (p *Participant) switchTo(adm api.Admission) error {
	out, in, err := SRTPContexts(adm.SRTP)
	if err != nil {
		return fmt.Errorf("client: new admission: %w", err)
	}
	remote, err := resolveMedia(p.ctx, adm.Media, "")
	if err != nil {
		return fmt.Errorf("client: new admission: %w", err)
	}
	laddr, err := parseLocal(p.opts.LocalAddr)
	if err != nil {
		return err
	}
	if laddr != nil {
		laddr.Port = 0 // the old socket may still hold the port
	}
	conn, err := p.dial(laddr, remote)
	if err != nil {
		return err
	}

	p.sendMu.Lock()
	if p.closed.Load() {
		p.sendMu.Unlock()
		_ = conn.Close()
		return ErrClosed
	}
	cur := p.path.Load()
	p.out = out
	p.ssrc = adm.SSRC
	p.extID = adm.AudioLevelExtensionID
	p.seq = uint16(rand.Uint32())
	p.ts = rand.Uint32()
	p.marker = true
	p.anySent = false
	p.lastTS, p.lastSendAt = 0, time.Time{}
	p.srPackets, p.srOctets = 0, 0
	p.dropping = false
	p.clearRoster() // the new server names its own SSRCs
	p.path.Store(&path{conn: conn, in: in, adm: &adm, remote: remote, gen: cur.gen + 1})
	p.sendMu.Unlock()
	// The reader, blocked on the old socket, wakes with an error, sees
	// that the path changed and reads the new socket.
	_ = cur.conn.Close()

	p.rxMu.Lock()
	p.serverReport, p.serverRRAt = media.ReportBlock{}, time.Time{}
	p.rxMu.Unlock()
	return nil
}
