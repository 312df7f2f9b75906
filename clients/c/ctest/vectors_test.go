package ctest

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voxfleet/vox/media"
)

// spaced writes b as docs/protocol.md does: hex bytes separated by spaces.
func spaced(b []byte) string {
	h := hex.EncodeToString(b)
	parts := make([]string, 0, len(b))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, " ")
}

// TestVectors: libsrtp (voxc vectors) and vox (media.Outbound) protect the
// test vectors of docs/protocol.md to the same bytes in every profile, and
// those are the bytes the document shows.
func TestVectors(t *testing.T) {
	voxc, _ := build(t)
	out, err := exec.Command(voxc, "vectors").Output()
	if err != nil {
		t.Fatalf("voxc vectors: %v", err)
	}
	c := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("voxc vectors: %q", l)
		}
		c[f[0]+" "+f[1]] = f[2]
	}
	doc, err := os.ReadFile(filepath.Join(cDir(t), "..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 16)
	for i := range key {
		key[i] = byte(i)
	}
	for _, p := range media.Profiles() {
		salt := make([]byte, 14)
		if p == media.ProfileAEADAES128GCM {
			salt = salt[:12]
		}
		for i := range salt {
			salt[i] = byte(0xA0 + i)
		}
		o, err := media.NewOutbound(p, media.Keys{Key: key, Salt: salt})
		if err != nil {
			t.Fatal(err)
		}
		rtp, _ := o.EncryptRTP(nil, []byte{0x80, 0x6f, 0x00, 0x01, 0x00, 0x00, 0x03, 0xc0, 0x0a, 0x0b, 0x0c, 0x0d, 0xf8, 0xff, 0xfe})
		rtcp, _ := o.EncryptRTCP(nil, []byte{0x80, 0xc9, 0x00, 0x01, 0x0a, 0x0b, 0x0c, 0x0d})
		for what, b := range map[string][]byte{"SRTP": rtp, "SRTCP": rtcp} {
			name := p.String() + " " + what
			if got := c[name]; got != hex.EncodeToString(b) {
				t.Errorf("%s: libsrtp %s, vox %x", name, got, b)
			}
			if !strings.Contains(string(doc), spaced(b)) {
				t.Errorf("%s: docs/protocol.md does not show %s", name, spaced(b))
			}
		}
	}
}
