//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

func TestTestKeysMatchUdpbase(t *testing.T) {
	// gofwd/internal/bench.Keys(AES_CM_128_HMAC_SHA1_80, 1): key[i]=i*17+32, salt[i]=i*7+16.
	k := testKeys(media.ProfileAESCM128HMACSHA1_80, 1)
	if len(k.Key) != 16 || len(k.Salt) != 14 || k.Key[0] != 32 || int(k.Key[15]) != (15*17+32)%256 || int(k.Salt[13]) != 13*7+16 {
		t.Fatalf("keys %x %x", k.Key, k.Salt)
	}
}

func TestForwardSRTP(t *testing.T) {
	const fanout = 2
	var sinks []*net.UDPConn
	for range fanout {
		s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sinks = append(sinks, s)
	}
	// Consecutive sink ports are not guaranteed: point copy k at sink k.
	c := &config{fanout: fanout, srtp: true, profile: media.ProfileAEADAES128GCM}
	for _, s := range sinks {
		c.dsts = append(c.dsts, s.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	var h *fwdHandler
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1}, func(*netio.Shard) netio.Handler {
		var err error
		if h, err = newHandler(c); err != nil {
			panic(err)
		}
		return h
	}, netio.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	gen, _ := media.NewOutbound(c.profile, testKeys(c.profile, 0))
	src, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer src.Close()
	var sent [][]byte
	for i := range 5 {
		plain := media.AppendRTPHeader(nil, media.RTPFields{PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i) * 960, SSRC: 0xabc})
		plain = binary.BigEndian.AppendUint64(plain, uint64(i)*1e9+7)
		sent = append(sent, plain)
		enc, err := gen.EncryptRTP(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		src.WriteToUDPAddrPort(enc, srv.LocalAddr())
		if i == 4 { // a replay and a forgery: dropped, counted, not forwarded
			src.WriteToUDPAddrPort(enc, srv.LocalAddr())
			enc[len(enc)-1] ^= 1
			enc[3]++
			src.WriteToUDPAddrPort(enc, srv.LocalAddr())
		}
	}
	for k, s := range sinks {
		in, _ := media.NewInbound(c.profile, testKeys(c.profile, k+1))
		buf := make([]byte, 1500)
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := range 5 {
			n, _, err := s.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("sink %d packet %d: %v", k, i, err)
			}
			plain, _, err := in.DecryptRTP(buf[:n])
			if err != nil || !bytes.Equal(plain, sent[i]) {
				t.Fatalf("sink %d packet %d: %v %x want %x", k, i, err, plain, sent[i])
			}
		}
	}
	srv.Close()
	if h.replay != 1 || h.authFail != 1 {
		t.Fatalf("replay %d authfail %d", h.replay, h.authFail)
	}
}
