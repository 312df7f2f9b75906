package api

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDLen is the longest session, participant or channel id.
const MaxIDLen = 64

// ValidID reports whether id is a valid session, participant or channel
// id: 1-64 of [A-Za-z0-9._-], and not "." or ".." (which HTTP clients
// rewrite in URLs).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MaxDisplayName is the longest display name in bytes (an RTCP SDES item
// holds up to 255; 64 keeps a roster packet small).
const MaxDisplayName = 64

// ValidDisplayName reports whether s may be a participant's display name:
// 1 to MaxDisplayName bytes of valid UTF-8 with no control characters
// (C0, DEL, C1) and not only spaces.
func ValidDisplayName(s string) bool {
	if len(s) == 0 || len(s) > MaxDisplayName || !utf8.ValidString(s) || strings.TrimSpace(s) == "" {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
