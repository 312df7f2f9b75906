package media

import (
	"crypto/rand"
	"fmt"

	"github.com/pion/srtp/v3"
)

// Profile is an SRTP protection profile vox supports.
type Profile uint8

// Supported profiles. The zero value is not a profile; use DefaultProfile.
const (
	// ProfileAESCM128HMACSHA1_80 is AES_CM_128_HMAC_SHA1_80 (RFC 3711,
	// RFC 4568): AES-128 counter mode, 80-bit HMAC-SHA1 tag. The default:
	// every SRTP stack has it.
	ProfileAESCM128HMACSHA1_80 Profile = iota + 1
	// ProfileAESCM128HMACSHA1_32 is AES_CM_128_HMAC_SHA1_32: as _80 with a
	// 32-bit RTP tag (SRTCP keeps 80 bits, RFC 4568 §6.2.1).
	ProfileAESCM128HMACSHA1_32
	// ProfileAEADAES128GCM is AEAD_AES_128_GCM (RFC 7714): AES-128-GCM with
	// a 16-byte tag, faster than HMAC-SHA1 where AES-NI/CLMUL exist.
	ProfileAEADAES128GCM
)

// DefaultProfile is the profile used when none is configured.
const DefaultProfile = ProfileAESCM128HMACSHA1_80

var profileNames = [...]string{
	ProfileAESCM128HMACSHA1_80: "AES_CM_128_HMAC_SHA1_80",
	ProfileAESCM128HMACSHA1_32: "AES_CM_128_HMAC_SHA1_32",
	ProfileAEADAES128GCM:       "AEAD_AES_128_GCM",
}

// Profiles returns the supported profiles, default first.
func Profiles() []Profile {
	return []Profile{ProfileAESCM128HMACSHA1_80, ProfileAESCM128HMACSHA1_32, ProfileAEADAES128GCM}
}

// Valid reports whether p is a supported profile.
func (p Profile) Valid() bool {
	return p >= ProfileAESCM128HMACSHA1_80 && p <= ProfileAEADAES128GCM
}

// String returns the RFC 4568 / RFC 7714 name of the profile, the one
// used in JSON and on the command line ("AES_CM_128_HMAC_SHA1_80", ...).
func (p Profile) String() string {
	if !p.Valid() {
		return fmt.Sprintf("Profile(%d)", uint8(p))
	}
	return profileNames[p]
}

// ParseProfile returns the profile with the given name (exact,
// case-sensitive, as String writes it), or ErrUnknownProfile.
func ParseProfile(name string) (Profile, error) {
	for _, p := range Profiles() {
		if profileNames[p] == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownProfile, name)
}

// MarshalText implements encoding.TextMarshaler (JSON strings).
func (p Profile) MarshalText() ([]byte, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownProfile, uint8(p))
	}
	return []byte(profileNames[p]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (JSON strings).
func (p *Profile) UnmarshalText(b []byte) error {
	v, err := ParseProfile(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Set implements flag.Value, so a *Profile can be a command-line flag.
func (p *Profile) Set(s string) error { return p.UnmarshalText([]byte(s)) }

// KeyLen returns the master key length in bytes (16 for all supported
// profiles).
func (p Profile) KeyLen() int {
	if !p.Valid() {
		return 0
	}
	return 16
}

// SaltLen returns the master salt length in bytes: 14 for AES-CM (RFC 3711
// §8.2), 12 for AEAD AES-GCM (RFC 7714 §12).
func (p Profile) SaltLen() int {
	switch p {
	case ProfileAESCM128HMACSHA1_80, ProfileAESCM128HMACSHA1_32:
		return 14
	case ProfileAEADAES128GCM:
		return 12
	default:
		return 0
	}
}

// RTPOverhead returns the bytes SRTP adds to an RTP packet (the tag).
func (p Profile) RTPOverhead() int {
	switch p {
	case ProfileAESCM128HMACSHA1_80:
		return 10
	case ProfileAESCM128HMACSHA1_32:
		return 4
	case ProfileAEADAES128GCM:
		return 16
	default:
		return 0
	}
}

// RTCPOverhead returns the bytes SRTCP adds to an RTCP packet: the 4-byte
// E flag + index, plus the tag (80-bit HMAC for both AES-CM profiles,
// 16-byte GCM tag for AEAD).
func (p Profile) RTCPOverhead() int {
	switch p {
	case ProfileAESCM128HMACSHA1_80, ProfileAESCM128HMACSHA1_32:
		return 4 + 10
	case ProfileAEADAES128GCM:
		return 4 + 16
	default:
		return 0
	}
}

func (p Profile) pion() srtp.ProtectionProfile {
	switch p {
	case ProfileAESCM128HMACSHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32
	case ProfileAEADAES128GCM:
		return srtp.ProtectionProfileAeadAes128Gcm
	default:
		return srtp.ProtectionProfileAes128CmHmacSha1_80
	}
}

// Keys is the SRTP master key and master salt for one direction of one
// participant (SDES-style key material, RFC 4568). In JSON, Key and Salt
// are base64 strings (standard encoding with padding), as encoding/json
// writes []byte.
type Keys struct {
	// Key is the master key.
	Key []byte `json:"key"`
	// Salt is the master salt.
	Salt []byte `json:"salt"`
}

// Validate checks the key and salt lengths against the profile.
func (k Keys) Validate(p Profile) error {
	if !p.Valid() {
		return ErrUnknownProfile
	}
	if len(k.Key) != p.KeyLen() || len(k.Salt) != p.SaltLen() {
		return fmt.Errorf("%w: %s needs a %d-byte key and a %d-byte salt, got %d and %d",
			ErrBadKeys, p, p.KeyLen(), p.SaltLen(), len(k.Key), len(k.Salt))
	}
	return nil
}

// GenerateKeys returns fresh random key material of the profile's lengths,
// from crypto/rand.
func GenerateKeys(p Profile) (Keys, error) {
	if !p.Valid() {
		return Keys{}, ErrUnknownProfile
	}
	buf := make([]byte, p.KeyLen()+p.SaltLen())
	if _, err := rand.Read(buf); err != nil {
		return Keys{}, fmt.Errorf("media: generate SRTP keys: %w", err)
	}
	n := p.KeyLen()
	return Keys{Key: buf[:n:n], Salt: buf[n:]}, nil
}

// SessionKeys is the key material of one participant: one set per
// direction, as returned in the admit answer.
type SessionKeys struct {
	// Profile is the protection profile both directions use.
	Profile Profile `json:"profile"`
	// ClientToServer protects what the client sends: the server's Inbound.
	ClientToServer Keys `json:"client_to_server"`
	// ServerToClient protects what the server sends: the server's
	// Outbound.
	ServerToClient Keys `json:"server_to_client"`
}

// GenerateSessionKeys returns fresh, independent key material for both
// directions.
func GenerateSessionKeys(p Profile) (SessionKeys, error) {
	c2s, err := GenerateKeys(p)
	if err != nil {
		return SessionKeys{}, err
	}
	s2c, err := GenerateKeys(p)
	if err != nil {
		return SessionKeys{}, err
	}
	return SessionKeys{Profile: p, ClientToServer: c2s, ServerToClient: s2c}, nil
}
