package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

const (
	testSSRCB       = 0x3333_4444
	testServerSSRCB = 0x5E5E_0002
)

// newServerPair returns two fake servers, A (where the participant joins)
// and B (where it is re-admitted: same session and participant id, its
// own SSRCs and keys).
func newServerPair(t *testing.T, prof media.Profile) (a, b *fakeServer) {
	t.Helper()
	a = newFakeServer(t, prof)
	b = newFakeServer(t, prof)
	b.adm.SSRC = testSSRCB
	b.adm.ServerSSRC = testServerSSRCB
	return a, b
}

// tryRecv reads the next datagram from the client within d; nil if none.
func (s *fakeServer) tryRecv(d time.Duration) ([]byte, *net.UDPAddr) {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := s.conn.ReadFromUDP(s.buf)
	if err != nil {
		return nil, nil
	}
	return append([]byte(nil), s.buf[:n]...), from
}

// sendNotice sends a genuine notice from s (its ServerSSRC, its keys) and
// returns the wire bytes.
func (s *fakeServer) sendNotice(window time.Duration) []byte {
	s.t.Helper()
	return s.sendRTCP(s.out, media.AppendReconnectNotice(nil, media.ReconnectNotice{
		SSRC: s.adm.ServerSSRC, Reason: media.ReconnectDrain, WindowMS: uint32(window / time.Millisecond),
	}))
}

// latch makes s learn the participant's address.
func latch(t *testing.T, s *fakeServer, p *Participant) {
	t.Helper()
	if err := p.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	s.recvRTP()
}

// readmitCall is one call of Options.Readmit.
type readmitCall struct {
	old    api.Admission
	notice media.ReconnectNotice
}

// recorder records Readmit calls and answers them from answers in order
// (the last one repeats).
type recorder struct {
	mu      sync.Mutex
	calls   []readmitCall
	answers []func(ctx context.Context) (api.Admission, error)
}

func (r *recorder) readmit(ctx context.Context, old api.Admission, n media.ReconnectNotice) (api.Admission, error) {
	r.mu.Lock()
	r.calls = append(r.calls, readmitCall{old, n})
	f := r.answers[min(len(r.calls), len(r.answers))-1]
	r.mu.Unlock()
	return f(ctx)
}

func (r *recorder) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func answer(adm api.Admission, err error) func(context.Context) (api.Admission, error) {
	return func(context.Context) (api.Admission, error) { return adm, err }
}

var errUnavailable = &APIError{Status: 503, Code: "not_accepting", Message: "draining"}

func TestMoveOnNotice(t *testing.T) {
	a, b := newServerPair(t, media.DefaultProfile)
	const (
		window = 200 * time.Millisecond
		delay  = 120 * time.Millisecond
	)
	rec := &recorder{answers: []func(context.Context) (api.Admission, error){answer(b.adm, nil)}}
	var (
		gotWindow  atomic.Int64
		reconnects atomic.Int32
		mu         sync.Mutex
		rtpFrom    = map[uint32]int{}
	)
	moved := make(chan [2]api.Admission, 1)
	p := join(t, a, Options{
		Readmit: rec.readmit,
		ReconnectDelay: func(w time.Duration) time.Duration {
			gotWindow.Store(int64(w))
			return delay
		},
		OnReconnect: func(media.ReconnectNotice) { reconnects.Add(1) },
		OnMoved:     func(o, n api.Admission) { moved <- [2]api.Admission{o, n} },
		OnRTP: func(pk *Packet) {
			mu.Lock()
			rtpFrom[pk.Header.SSRC]++
			mu.Unlock()
		},
	})
	latch(t, a, p)
	onA := p.path.Load()
	a.sendRTP(0xAB, 1, 0, []byte("from A"))
	waitFor(t, "packet from A", func() bool { return p.ReceivedFrom(0xAB) == 1 })

	// The game keeps sending (every 2 ms) throughout the move.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := p.Send([]byte("voice")); err != nil {
					t.Errorf("send during the move: %v", err)
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	t0 := time.Now()
	wire := a.sendNotice(window)
	a.sendNotice(window) // the server's repeats, each with its own index
	a.sendNotice(window)
	a.write(wire) // and a replay of the first copy

	// A gets voice with the old SSRC, then the BYE, then nothing.
	var rtpOnA int
	var byeAt time.Time
	for byeAt.IsZero() {
		w, _ := a.recv()
		switch media.Classify(w) {
		case media.KindRTP:
			_, h, err := a.in.DecryptRTP(w)
			if err != nil || h.SSRC != testSSRC {
				t.Fatalf("RTP on A: ssrc %#x err %v", h.SSRC, err)
			}
			rtpOnA++
		case media.KindRTCP:
			byeAt = time.Now()
			plain, err := a.in.DecryptRTCP(w)
			if err != nil {
				t.Fatalf("BYE is not valid SRTCP: %v", err)
			}
			it := media.NewRTCPIter(plain)
			if !it.Next() {
				t.Fatal(it.Err())
			}
			bye, err := media.ParseBye(it.Packet())
			if err != nil || bye.Len() != 1 || bye.SSRC(0) != testSSRC {
				t.Fatalf("BYE %+v err %v", bye, err)
			}
		default:
			t.Fatalf("unexpected datagram on A: %x", w)
		}
	}
	if d := byeAt.Sub(t0); d < delay || d > delay+time.Second {
		t.Errorf("BYE %v after the notice, want the injected %v", d, delay)
	}
	if got := time.Duration(gotWindow.Load()); got != window {
		t.Errorf("delay asked for window %v, want %v", got, window)
	}
	if rtpOnA == 0 {
		t.Error("no voice reached A before the BYE")
	}

	var pair [2]api.Admission
	select {
	case pair = <-moved:
	case <-time.After(2 * time.Second):
		t.Fatal("OnMoved not called")
	}
	if pair[0].SSRC != testSSRC || pair[1].SSRC != testSSRCB {
		t.Errorf("OnMoved(%#x, %#x)", pair[0].SSRC, pair[1].SSRC)
	}
	if rec.n() != 1 {
		t.Fatalf("%d Readmit calls", rec.n())
	}
	c := rec.calls[0]
	if c.old.SSRC != testSSRC || c.old.Media != a.adm.Media || c.notice.SSRC != testServerSSRC ||
		c.notice.Reason != media.ReconnectDrain || c.notice.Window() != window {
		t.Errorf("Readmit(%+v, %+v)", c.old, c.notice)
	}
	if got := p.Admission(); got.SSRC != testSSRCB || got.Media != b.adm.Media {
		t.Errorf("Admission() %+v", got)
	}
	if p.SSRC() != testSSRCB || p.Server().Port() != uint16(b.adm.Media.Port) || p.RemoteAddr().Port != b.adm.Media.Port {
		t.Errorf("SSRC %#x server %v", p.SSRC(), p.Server())
	}

	// B gets the voice, with the new SSRC and keys, a fresh marked start
	// and consecutive sequence numbers.
	var last uint16
	for i := 0; i < 5; i++ {
		plain, h, from := b.recvRTP()
		if h.SSRC != testSSRCB || string(h.Payload(plain)) != "voice" {
			t.Fatalf("on B: ssrc %#x payload %q", h.SSRC, h.Payload(plain))
		}
		if i == 0 && !h.Marker {
			t.Error("first packet on B without marker")
		}
		if i > 0 && h.SequenceNumber != last+1 {
			t.Errorf("seq %d after %d", h.SequenceNumber, last)
		}
		last = h.SequenceNumber
		if from.Port != p.LocalAddr().Port || from.Port == onA.conn.LocalAddr().(*net.UDPAddr).Port {
			t.Errorf("from %v, local %v", from, p.LocalAddr())
		}
	}
	// B's packets reach the handlers.
	b.sendRTP(0xCD, 1, 0, []byte("from B"))
	waitFor(t, "packet from B", func() bool { return p.ReceivedFrom(0xCD) == 1 })

	// A hears nothing more, and what A sends now is never delivered: a
	// notice and voice to the old socket (closed) ...
	if w, _ := a.tryRecv(50 * time.Millisecond); w != nil {
		t.Errorf("A got a datagram after the BYE: %x", w)
	}
	late := media.AppendReconnectNotice(nil, media.ReconnectNotice{SSRC: testServerSSRC, Reason: media.ReconnectDrain, WindowMS: 10})
	a.sendRTCP(a.out, late)
	lateRTP := a.sendRTP(0xAB, 2, 960, []byte("late"))
	// ... and, read from it just before the switch, dropped as stale.
	lateNotice, err := a.out.EncryptRTCP(nil, late)
	if err != nil {
		t.Fatal(err)
	}
	p.handleDatagramOn(onA, lateNotice, time.Now())
	p.handleDatagramOn(onA, lateRTP, time.Now())

	b.sendRTP(0xCD, 2, 960, []byte("from B"))
	waitFor(t, "second packet from B", func() bool { return p.ReceivedFrom(0xCD) == 2 })
	waitFor(t, "move goroutine done", func() bool { return !p.Moving() })
	mu.Lock()
	if rtpFrom[0xAB] != 1 || rtpFrom[0xCD] != 2 {
		t.Errorf("delivered %v", rtpFrom)
	}
	mu.Unlock()
	st := p.Stats()
	if st.Moves != 1 || st.Notices != 3 || st.NoticeRepeats != 2 || st.Replays != 1 || st.RejectedRTCP != 1 ||
		st.NoticesStale != 1 || st.Stale != 2 || st.ReadmitFailures != 0 || st.AuthFailures != 0 {
		t.Errorf("stats %+v", st)
	}
	if reconnects.Load() != 1 || rec.n() != 1 || p.LastMoveError() != nil {
		t.Errorf("OnReconnect %d times, Readmit %d times, err %v", reconnects.Load(), rec.n(), p.LastMoveError())
	}
	t.Logf("sent %d, to A before the BYE %d, dropped during the move %d", st.Sent, rtpOnA, st.MoveDrops)
}

func TestMoveIgnoresForgedReplayedWrongSender(t *testing.T) {
	a, _ := newServerPair(t, media.ProfileAEADAES128GCM)
	rec := &recorder{answers: []func(context.Context) (api.Admission, error){answer(api.Admission{}, errors.New("must not be called"))}}
	var reconnects atomic.Int32
	p := join(t, a, Options{
		Readmit:        rec.readmit,
		ReconnectDelay: func(time.Duration) time.Duration { return 0 },
		OnReconnect:    func(media.ReconnectNotice) { reconnects.Add(1) },
	})
	latch(t, a, p)
	genuine := media.AppendReconnectNotice(nil, media.ReconnectNotice{SSRC: testServerSSRC, Reason: media.ReconnectDrain, WindowMS: 0})

	// Forged: other keys.
	other, err := media.GenerateKeys(media.ProfileAEADAES128GCM)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := media.NewOutbound(media.ProfileAEADAES128GCM, other)
	if err != nil {
		t.Fatal(err)
	}
	a.sendRTCP(forger, genuine)
	// Forged: the server's keys, a corrupted tag.
	w, err := a.out.EncryptRTCP(nil, genuine)
	if err != nil {
		t.Fatal(err)
	}
	w[len(w)-1] ^= 0x40
	a.write(w)
	// Authenticated but sent as another SSRC than the admission's
	// ServerSSRC.
	wrong := a.sendRTCP(a.out, media.AppendReconnectNotice(nil, media.ReconnectNotice{SSRC: testServerSSRC + 1, Reason: media.ReconnectDrain}))
	// Replayed: the same bytes again.
	a.write(wrong)
	// Too old: a genuine notice encrypted first, delivered after the
	// replay window moved on.
	old, err := a.out.EncryptRTCP(nil, genuine)
	if err != nil {
		t.Fatal(err)
	}
	rr, _ := media.AppendReceiverReport(nil, testServerSSRC)
	for i := 0; i < 200; i++ {
		if _, err := a.out.EncryptRTCP(nil, rr); err != nil {
			t.Fatal(err)
		}
	}
	a.sendRTCP(a.out, rr)
	a.write(old)

	waitFor(t, "all counted", func() bool {
		st := p.Stats()
		return st.RejectedRTCP == 4 && st.NoticesWrongSender == 1
	})
	time.Sleep(20 * time.Millisecond) // a move, were one started, would call Readmit at once
	st := p.Stats()
	if st.AuthFailures != 2 || st.Replays != 2 || st.Notices != 0 || st.Moves != 0 || st.ReceivedRTCP != 2 {
		t.Errorf("stats %+v", st)
	}
	if rec.n() != 0 || reconnects.Load() != 0 || p.Moving() {
		t.Errorf("Readmit %d calls, OnReconnect %d, moving %v", rec.n(), reconnects.Load(), p.Moving())
	}
	if w, _ := a.tryRecv(20 * time.Millisecond); w != nil {
		t.Errorf("client sent %x (a BYE?)", w)
	}
	if p.Server().Port() != uint16(a.adm.Media.Port) {
		t.Errorf("server %v", p.Server())
	}
}

func TestMoveReadmitRetried(t *testing.T) {
	a, b := newServerPair(t, media.DefaultProfile)
	const retryAfter = 40 * time.Millisecond // longer than the backoff: waited instead
	rec := &recorder{answers: []func(context.Context) (api.Admission, error){
		answer(api.Admission{}, errUnavailable),
		answer(api.Admission{}, &APIError{Status: 503, Code: "not_accepting", RetryAfter: retryAfter}),
		answer(b.adm, nil),
	}}
	moved := make(chan struct{})
	p := join(t, a, Options{
		Readmit:        rec.readmit,
		ReadmitBackoff: time.Millisecond,
		OnMoved:        func(_, _ api.Admission) { close(moved) },
	})
	latch(t, a, p)
	start := time.Now()
	a.sendNotice(0)
	select {
	case <-moved:
	case <-time.After(2 * time.Second):
		t.Fatal("not moved")
	}
	if d := time.Since(start); d < retryAfter {
		t.Errorf("moved after %v: Retry-After %v not waited", d, retryAfter)
	}
	if st := p.Stats(); rec.n() != 3 || st.ReadmitRetries != 2 || st.Moves != 1 || st.ReadmitFailures != 0 {
		t.Errorf("%d calls, stats %+v", rec.n(), st)
	}
	if err := p.Send([]byte("on B")); err != nil {
		t.Fatal(err)
	}
	if _, h, _ := b.recvRTP(); h.SSRC != testSSRCB {
		t.Errorf("ssrc %#x on B", h.SSRC)
	}
}

func TestMoveReadmitFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ans   func(b api.Admission) (api.Admission, error)
		calls int
		want  error
	}{
		{"temporary", func(api.Admission) (api.Admission, error) {
			return api.Admission{}, errUnavailable
		}, 3, api.ErrNotAccepting},
		{"permanent", func(api.Admission) (api.Admission, error) {
			return api.Admission{}, api.ErrSessionFull
		}, 1, api.ErrSessionFull},
		{"unusable", func(b api.Admission) (api.Admission, error) {
			b.SRTP.ServerToClient.Key = b.SRTP.ServerToClient.Key[:5]
			return b, nil
		}, 1, media.ErrBadKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newServerPair(t, media.DefaultProfile)
			rec := &recorder{answers: []func(context.Context) (api.Admission, error){answer(tc.ans(b.adm))}}
			failed := make(chan error, 1)
			p := join(t, a, Options{
				Readmit:         rec.readmit,
				ReadmitAttempts: 3,
				ReadmitBackoff:  time.Millisecond,
				OnMoved:         func(_, _ api.Admission) { t.Error("moved") },
				OnMoveFailed: func(old api.Admission, n media.ReconnectNotice, err error) {
					if old.SSRC != testSSRC || n.SSRC != testServerSSRC {
						t.Errorf("OnMoveFailed(%+v, %+v)", old, n)
					}
					failed <- err
				},
			})
			latch(t, a, p)
			a.sendNotice(0)
			var err error
			select {
			case err = <-failed:
			case <-time.After(2 * time.Second):
				t.Fatal("OnMoveFailed not called")
			}
			if !errors.Is(err, tc.want) || !errors.Is(p.LastMoveError(), tc.want) {
				t.Errorf("error %v, last %v, want %v", err, p.LastMoveError(), tc.want)
			}
			st := p.Stats()
			if rec.n() != tc.calls || st.ReadmitFailures != 1 || st.Moves != 0 || st.ReadmitRetries != uint64(tc.calls-1) {
				t.Errorf("%d calls, stats %+v", rec.n(), st)
			}
			// The BYE went to A; the participant stays there and sends
			// there again.
			plain := a.recvRTCP()
			if it := media.NewRTCPIter(plain); !it.Next() || it.Packet().Type != media.RTCPTypeBYE {
				t.Errorf("want a BYE on A: %x", plain)
			}
			waitFor(t, "move over", func() bool { return !p.Moving() })
			if p.Server().Port() != uint16(a.adm.Media.Port) || p.SSRC() != testSSRC {
				t.Errorf("server %v ssrc %#x", p.Server(), p.SSRC())
			}
			if err := p.Send([]byte("still here")); err != nil {
				t.Fatal(err)
			}
			if _, h, _ := a.recvRTP(); h.SSRC != testSSRC {
				t.Errorf("ssrc %#x on A", h.SSRC)
			}
			_ = p.Close()
		})
	}
}

func TestMoveCloseDuringWait(t *testing.T) {
	a, _ := newServerPair(t, media.DefaultProfile)
	rec := &recorder{answers: []func(context.Context) (api.Admission, error){answer(api.Admission{}, errors.New("must not be called"))}}
	p := join(t, a, Options{Readmit: rec.readmit, OnMoveFailed: func(api.Admission, media.ReconnectNotice, error) { t.Error("failed") }})
	latch(t, a, p)
	a.sendNotice(time.Hour) // the default random delay: almost surely long
	waitFor(t, "move pending", p.Moving)
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if p.Moving() || rec.n() != 0 || p.Stats().ReadmitFailures != 0 {
		t.Errorf("moving %v, %d calls, stats %+v", p.Moving(), rec.n(), p.Stats())
	}
	if w, _ := a.tryRecv(20 * time.Millisecond); w != nil {
		t.Errorf("client sent %x", w)
	}
}

func TestMoveCloseDuringReadmit(t *testing.T) {
	a, _ := newServerPair(t, media.DefaultProfile)
	inReadmit := make(chan struct{})
	rec := &recorder{answers: []func(context.Context) (api.Admission, error){
		func(ctx context.Context) (api.Admission, error) {
			close(inReadmit)
			<-ctx.Done()
			return api.Admission{}, ctx.Err()
		},
	}}
	p := join(t, a, Options{Readmit: rec.readmit, ReconnectDelay: func(time.Duration) time.Duration { return 0 },
		OnMoveFailed: func(api.Admission, media.ReconnectNotice, error) { t.Error("failed") }})
	latch(t, a, p)
	a.sendNotice(0)
	<-inReadmit
	// Between the BYE and the switch, sending drops and counts.
	if err := p.Send([]byte("dropped")); err != nil {
		t.Fatal(err)
	}
	if err := p.SendRTCP(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close hangs")
	}
	st := p.Stats()
	if st.MoveDrops != 2 || st.ReadmitFailures != 0 || st.Moves != 0 || p.Moving() {
		t.Errorf("stats %+v", st)
	}
	if err := p.Send(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
}

// TestMoveTwice: a participant moved to B follows B's notice too (back to
// a third server), while A's are long ignored.
func TestMoveTwice(t *testing.T) {
	a, b := newServerPair(t, media.ProfileAESCM128HMACSHA1_32)
	c := newFakeServer(t, media.ProfileAESCM128HMACSHA1_32)
	c.adm.SSRC, c.adm.ServerSSRC = 0x7777_0003, 0x5E5E_0003
	rec := &recorder{answers: []func(context.Context) (api.Admission, error){answer(b.adm, nil), answer(c.adm, nil)}}
	moved := make(chan api.Admission, 2)
	p := join(t, a, Options{Readmit: rec.readmit, RTCPInterval: 5 * time.Millisecond, OnMoved: func(_, n api.Admission) { moved <- n }})
	a.recvRTCP() // the periodic report latches A
	a.sendNotice(0)
	if n := <-moved; n.SSRC != testSSRCB {
		t.Fatalf("moved to %#x", n.SSRC)
	}
	b.recvRTCP() // the periodic report latches B
	b.sendNotice(10 * time.Millisecond)
	if n := <-moved; n.SSRC != c.adm.SSRC {
		t.Fatalf("moved to %#x", n.SSRC)
	}
	plain := c.recvRTCP()
	if it := media.NewRTCPIter(plain); !it.Next() {
		t.Errorf("report on C: %x", plain)
	} else if ssrc, err := it.Packet().SenderSSRC(); err != nil || ssrc != c.adm.SSRC {
		t.Errorf("report on C: %x", plain)
	}
	if st := p.Stats(); st.Moves != 2 || rec.n() != 2 || rec.calls[1].old.SSRC != testSSRCB {
		t.Errorf("stats %+v, %d calls", st, rec.n())
	}
}

func TestDefaultReconnectDelay(t *testing.T) {
	if d := defaultReconnectDelay(0); d != 0 {
		t.Errorf("zero window: %v", d)
	}
	const w = 200 * time.Millisecond
	var lo, hi bool
	for i := 0; i < 1000; i++ {
		d := defaultReconnectDelay(w)
		if d < 0 || d >= w {
			t.Fatalf("delay %v outside [0, %v)", d, w)
		}
		lo = lo || d < w/4
		hi = hi || d > 3*w/4
	}
	if !lo || !hi {
		t.Errorf("delays not spread over the window (low %v high %v)", lo, hi)
	}
}
