package api

import (
	"errors"
	"fmt"
	"strings"
)

// Profile is the name of an SRTP protection profile, as it travels in
// JSON ("AES_CM_128_HMAC_SHA1_80", ...). Its JSON refuses any other name
// with ErrUnknownProfile. media.Profile is the same profile with its SRTP
// behaviour; sessionmgr and client convert between the two.
type Profile string

// The profiles vox supports.
const (
	// ProfileAESCM128HMACSHA1_80 is AES_CM_128_HMAC_SHA1_80 (RFC 3711,
	// RFC 4568), the default.
	ProfileAESCM128HMACSHA1_80 Profile = "AES_CM_128_HMAC_SHA1_80"
	// ProfileAESCM128HMACSHA1_32 is AES_CM_128_HMAC_SHA1_32: a 32-bit RTP
	// tag (SRTCP keeps 80 bits).
	ProfileAESCM128HMACSHA1_32 Profile = "AES_CM_128_HMAC_SHA1_32"
	// ProfileAEADAES128GCM is AEAD_AES_128_GCM (RFC 7714).
	ProfileAEADAES128GCM Profile = "AEAD_AES_128_GCM"
)

// DefaultProfile is the profile of a pod that is not configured otherwise.
const DefaultProfile = ProfileAESCM128HMACSHA1_80

// ErrUnknownProfile is returned for a profile name vox does not support
// (in JSON, or by ParseProfile).
var ErrUnknownProfile = errors.New("unknown SRTP protection profile")

// Profiles returns the supported profiles, default first.
func Profiles() []Profile {
	return []Profile{ProfileAESCM128HMACSHA1_80, ProfileAESCM128HMACSHA1_32, ProfileAEADAES128GCM}
}

// Valid reports whether p is a supported profile.
func (p Profile) Valid() bool {
	switch p {
	case ProfileAESCM128HMACSHA1_80, ProfileAESCM128HMACSHA1_32, ProfileAEADAES128GCM:
		return true
	}
	return false
}

// String returns the profile's name.
func (p Profile) String() string { return string(p) }

// ParseProfile returns the profile with the given name (exact,
// case-sensitive), or an error wrapping ErrUnknownProfile that lists the
// supported names.
func ParseProfile(name string) (Profile, error) {
	if p := Profile(name); p.Valid() {
		return p, nil
	}
	names := make([]string, 0, 3)
	for _, p := range Profiles() {
		names = append(names, string(p))
	}
	return "", fmt.Errorf("%w %q (supported: %s)", ErrUnknownProfile, name, strings.Join(names, ", "))
}

// MarshalText implements encoding.TextMarshaler (JSON strings); an
// unsupported profile (the empty one included) is an error, so nothing is
// written that the other side would refuse.
func (p Profile) MarshalText() ([]byte, error) {
	if _, err := ParseProfile(string(p)); err != nil {
		return nil, err
	}
	return []byte(p), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (JSON strings): only
// the supported names are accepted.
func (p *Profile) UnmarshalText(b []byte) error {
	v, err := ParseProfile(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Keys is the SRTP master key and master salt of one direction of one
// participant (SDES-style key material, RFC 4568). In JSON, Key and Salt
// are base64 strings (standard encoding with padding), as encoding/json
// writes []byte. It converts to media.Keys with a plain conversion.
type Keys struct {
	// Key is the master key.
	Key []byte `json:"key"`
	// Salt is the master salt.
	Salt []byte `json:"salt"`
}
