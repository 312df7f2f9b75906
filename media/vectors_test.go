package media

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// Known-answer tests against media/testdata/srtp_vectors.json: RFC 3711
// Appendix B (AES-CM keystream, key derivation), libsrtp's reference
// packets (srtp_driver.c) and RFC 7714's AES-GCM packets. Every source is
// named in the JSON file.

type packetVector struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	Profile    string `json:"profile"`
	MasterKey  string `json:"master_key"`
	MasterSalt string `json:"master_salt"`
	RTP        string `json:"rtp"`
	SRTP       string `json:"srtp"`
	RTCP       string `json:"rtcp"`
	SRTCP      string `json:"srtcp"`
}

type vectorFile struct {
	B2 struct {
		SessionKey  string `json:"session_key"`
		SessionSalt string `json:"session_salt"`
		Keystream   string `json:"keystream"`
	} `json:"rfc3711_b2_aes_cm"`
	B3 struct {
		MasterKey     string `json:"master_key"`
		MasterSalt    string `json:"master_salt"`
		CipherKey     string `json:"cipher_key"`
		CipherSalt    string `json:"cipher_salt"`
		AuthKeyPrefix string `json:"auth_key_prefix"`
	} `json:"rfc3711_b3_kdf"`
	Packets []packetVector `json:"packets"`
	GCM     struct {
		SessionKey  string `json:"session_key"`
		SessionSalt string `json:"session_salt"`
		RTP         string `json:"rtp"`
		SRTP        string `json:"srtp"`
		RTCP        string `json:"rtcp"`
		SRTCP       string `json:"srtcp"`
	} `json:"rfc7714_aes_128_gcm"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/srtp_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// aesCMKeystream is an independent RFC 3711 §4.1.1 AES counter-mode
// keystream generator: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)
// with a 112-bit salt, or the 128-bit IV given directly.
func aesCMKeystream(t testing.TB, key, iv []byte, n int) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, n)
	cipher.NewCTR(block, iv).XORKeyStream(out, out)
	return out
}

// rfc3711KDF is an independent implementation of RFC 3711 §4.3.1 with key
// derivation rate 0: x = (label || r=0) XOR master_salt, and the session key
// is the AES-CM keystream of the master key at IV x * 2^16.
func rfc3711KDF(t testing.TB, masterKey, masterSalt []byte, label byte, n int) []byte {
	t.Helper()
	iv := make([]byte, 16)
	copy(iv, masterSalt) // 14 bytes, the low 2 stay 0 (* 2^16)
	iv[7] ^= label       // label sits in byte 7 of the 14-byte x (label << 48)
	return aesCMKeystream(t, masterKey, iv, n)
}

func TestRFC3711B2Keystream(t *testing.T) {
	v := loadVectors(t).B2
	want := unhex(t, v.Keystream)
	// SSRC 0, index 0: the IV is the salt itself.
	got := aesCMKeystream(t, unhex(t, v.SessionKey), unhex(t, v.SessionSalt), len(want))
	if !bytes.Equal(got, want) {
		t.Fatalf("keystream\n got %x\nwant %x", got, want)
	}
}

func TestRFC3711B3KeyDerivation(t *testing.T) {
	v := loadVectors(t).B3
	mk, ms := unhex(t, v.MasterKey), unhex(t, v.MasterSalt)
	for _, c := range []struct {
		name  string
		label byte
		want  []byte
	}{
		{"cipher key", 0x00, unhex(t, v.CipherKey)},
		{"auth key", 0x01, unhex(t, v.AuthKeyPrefix)},
		{"cipher salt", 0x02, unhex(t, v.CipherSalt)},
	} {
		if got := rfc3711KDF(t, mk, ms, c.label, len(c.want)); !bytes.Equal(got, c.want) {
			t.Errorf("%s\n got %x\nwant %x", c.name, got, c.want)
		}
	}
}

// TestLibsrtpPacketIndependently recomputes libsrtp's AES_CM_128_HMAC_SHA1_80
// reference packet from the RFC 3711 B.3 master key with the independent
// KDF/CTR/HMAC above: the vector, the RFC and our understanding agree before
// pion is involved at all.
func TestLibsrtpPacketIndependently(t *testing.T) {
	pv := loadVectors(t).Packets[0]
	mk, ms := unhex(t, pv.MasterKey), unhex(t, pv.MasterSalt)
	key := rfc3711KDF(t, mk, ms, 0x00, 16)
	auth := rfc3711KDF(t, mk, ms, 0x01, 20)
	salt := rfc3711KDF(t, mk, ms, 0x02, 14)

	plain := unhex(t, pv.RTP)
	h, err := ParseRTP(plain)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, 16)
	copy(iv, salt)
	var x [16]byte
	binary.BigEndian.PutUint32(x[4:8], h.SSRC)
	binary.BigEndian.PutUint64(x[6:14], binary.BigEndian.Uint64(x[6:14])^uint64(h.SequenceNumber)) // index = ROC 0 || SEQ, << 16
	for i := range iv {
		iv[i] ^= x[i]
	}
	payload := h.Payload(plain)
	ks := aesCMKeystream(t, key, iv, len(payload))
	pkt := append([]byte(nil), plain[:h.HeaderLength]...)
	for i := range payload {
		pkt = append(pkt, payload[i]^ks[i])
	}
	mac := hmac.New(sha1.New, auth)
	mac.Write(pkt)
	mac.Write([]byte{0, 0, 0, 0}) // ROC
	pkt = append(pkt, mac.Sum(nil)[:10]...)
	if want := unhex(t, pv.SRTP); !bytes.Equal(pkt, want) {
		t.Fatalf("independent SRTP\n got %x\nwant %x", pkt, want)
	}
}

// TestRFC7714Independently checks RFC 7714's AES-128-GCM packets with an
// independent implementation of its IV (§8.1, §9.1) and AAD (§8.2, §9.2)
// rules. (pion only takes master keys, and the RFC gives session keys, so
// these cannot go through Inbound; the libsrtp GCM packet does.)
func TestRFC7714Independently(t *testing.T) {
	v := loadVectors(t).GCM
	block, err := aes.NewCipher(unhex(t, v.SessionKey))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	salt := unhex(t, v.SessionSalt)

	rtpPlain := unhex(t, v.RTP)
	h, err := ParseRTP(rtpPlain)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, 12) // 00 00 || SSRC || ROC || SEQ, XOR salt
	binary.BigEndian.PutUint32(iv[2:6], h.SSRC)
	binary.BigEndian.PutUint16(iv[10:12], h.SequenceNumber)
	for i := range iv {
		iv[i] ^= salt[i]
	}
	got := gcm.Seal(append([]byte(nil), rtpPlain[:h.HeaderLength]...), iv, rtpPlain[h.HeaderLength:], rtpPlain[:h.HeaderLength])
	if want := unhex(t, v.SRTP); !bytes.Equal(got, want) {
		t.Fatalf("RTP\n got %x\nwant %x", got, want)
	}

	rtcpPlain := unhex(t, v.RTCP)
	want := unhex(t, v.SRTCP)
	eIndex := binary.BigEndian.Uint32(want[len(want)-4:])
	iv = make([]byte, 12) // 00 00 || SSRC || 00 00 || 0 || index, XOR salt
	binary.BigEndian.PutUint32(iv[2:6], binary.BigEndian.Uint32(rtcpPlain[4:8]))
	binary.BigEndian.PutUint32(iv[8:12], eIndex&^(1<<31))
	for i := range iv {
		iv[i] ^= salt[i]
	}
	aad := append(append([]byte(nil), rtcpPlain[:8]...), want[len(want)-4:]...)
	got = gcm.Seal(append([]byte(nil), rtcpPlain[:8]...), iv, rtcpPlain[8:], aad)
	got = append(got, want[len(want)-4:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("RTCP\n got %x\nwant %x", got, want)
	}
}

// TestInteropVectors runs the reference packets of other implementations
// through Inbound and Outbound: Inbound must decrypt them to the reference
// plaintext and Outbound must produce the reference ciphertext byte for byte.
func TestInteropVectors(t *testing.T) {
	for _, pv := range loadVectors(t).Packets {
		t.Run(pv.Name, func(t *testing.T) {
			p, err := ParseProfile(pv.Profile)
			if err != nil {
				t.Fatal(err)
			}
			keys := Keys{Key: unhex(t, pv.MasterKey), Salt: unhex(t, pv.MasterSalt)}
			in, err := NewInbound(p, keys)
			if err != nil {
				t.Fatal(err)
			}
			out, err := NewOutbound(p, keys)
			if err != nil {
				t.Fatal(err)
			}
			rtpPlain, srtpPkt := unhex(t, pv.RTP), unhex(t, pv.SRTP)
			rtcpPlain, srtcpPkt := unhex(t, pv.RTCP), unhex(t, pv.SRTCP)

			buf := append([]byte(nil), srtpPkt...)
			got, h, err := in.DecryptRTP(buf)
			if err != nil {
				t.Fatalf("DecryptRTP: %v", err)
			}
			if !bytes.Equal(got, rtpPlain) {
				t.Fatalf("DecryptRTP\n got %x\nwant %x", got, rtpPlain)
			}
			if h.SSRC != 0xcafebabe || h.SequenceNumber != 0x1234 || h.HeaderLength != 12 {
				t.Fatalf("header %+v", h)
			}
			enc, err := out.EncryptRTP(nil, rtpPlain)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, srtpPkt) {
				t.Fatalf("EncryptRTP\n got %x\nwant %x", enc, srtpPkt)
			}

			buf = append([]byte(nil), srtcpPkt...)
			gotRTCP, err := in.DecryptRTCP(buf)
			if err != nil {
				t.Fatalf("DecryptRTCP: %v", err)
			}
			if !bytes.Equal(gotRTCP, rtcpPlain) {
				t.Fatalf("DecryptRTCP\n got %x\nwant %x", gotRTCP, rtcpPlain)
			}
			enc, err = out.EncryptRTCP(nil, rtcpPlain)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, srtcpPkt) {
				t.Fatalf("EncryptRTCP\n got %x\nwant %x", enc, srtcpPkt)
			}

			// The same packets again are replays.
			if _, _, err := in.DecryptRTP(append([]byte(nil), srtpPkt...)); err != ErrReplayed {
				t.Fatalf("replayed SRTP: %v, want ErrReplayed", err)
			}
			if _, err := in.DecryptRTCP(append([]byte(nil), srtcpPkt...)); err != ErrReplayed {
				t.Fatalf("replayed SRTCP: %v, want ErrReplayed", err)
			}
		})
	}
}
