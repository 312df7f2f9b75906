//go:build linux

package main

import (
	"errors"
	"net/netip"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// fwdHandler is one shard's forwarder. Its state belongs to the shard's
// goroutine; the counters are read by main only after the server closed.
type fwdHandler struct {
	dsts   []netip.AddrPort
	fanout int

	// SRTP mode.
	srtp    bool
	profile media.Profile
	ingress media.Keys
	inbound map[uint32]*media.Inbound // per sender SSRC, made on first sight
	out     []*media.Outbound         // per copy k

	authFail, replay, malformed uint64
}

func newHandler(c *config) (*fwdHandler, error) {
	h := &fwdHandler{dsts: c.dsts, fanout: c.fanout, srtp: c.srtp, profile: c.profile}
	if !c.srtp {
		return h, nil
	}
	h.ingress = testKeys(c.profile, 0)
	h.inbound = map[uint32]*media.Inbound{}
	for k := range c.fanout {
		o, err := media.NewOutbound(c.profile, testKeys(c.profile, k+1))
		if err != nil {
			return nil, err
		}
		h.out = append(h.out, o)
	}
	return h, nil
}

func (h *fwdHandler) HandleBatch(_ int64, pkts []netio.Packet, q *netio.SendQueue) {
	for _, p := range pkts {
		if !h.srtp {
			for k := range h.fanout {
				q.Send(p.Data, h.dsts[k%len(h.dsts)])
			}
			continue
		}
		h.forwardSRTP(p.Data, q)
	}
}

func (h *fwdHandler) forwardSRTP(b []byte, q *netio.SendQueue) {
	if media.Classify(b) != media.KindRTP {
		h.malformed++
		return
	}
	ssrc, _ := media.SSRCOf(b, media.KindRTP)
	in := h.inbound[ssrc]
	if in == nil {
		var err error
		if in, err = media.NewInbound(h.profile, h.ingress); err != nil {
			h.malformed++
			return
		}
		h.inbound[ssrc] = in
	}
	plain, _, err := in.DecryptRTP(b)
	if err != nil {
		switch {
		case errors.Is(err, media.ErrReplayed):
			h.replay++
		case errors.Is(err, media.ErrAuthFailed):
			h.authFail++
		default:
			h.malformed++
		}
		return
	}
	for k, o := range h.out {
		buf := q.Buffer()
		enc, err := o.EncryptRTP(buf[:0], plain)
		if err != nil || &enc[0] != &buf[0] {
			h.malformed++ // would not fit the queue's storage
			continue
		}
		q.Send(enc, h.dsts[k%len(h.dsts)])
	}
}

func (h *fwdHandler) Tick(int64, *netio.SendQueue) {}

// testKeys are udpbase's deterministic test keys (gofwd/internal/bench
// Keys): index 0 is the generator's, k >= 1 receiver k's. Test material only.
func testKeys(p media.Profile, index int) media.Keys {
	k := media.Keys{Key: make([]byte, p.KeyLen()), Salt: make([]byte, p.SaltLen())}
	for i := range k.Key {
		k.Key[i] = byte(i*17 + index*31 + 1)
	}
	for i := range k.Salt {
		k.Salt[i] = byte(i*7 + index*13 + 3)
	}
	return k
}
