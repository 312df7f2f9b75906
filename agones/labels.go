package agones

import (
	"fmt"
	"strings"
)

// Label limits. The sidecar stores key k as agones.dev/sdk-k, whose name
// part, sdk-k, Kubernetes limits to 63 characters.
const (
	MaxLabelKeyLen   = 59
	MaxLabelValueLen = 63
)

// SanitizeLabelKey returns key made acceptable as the key of a label or
// annotation set through the sidecar: every character outside
// [A-Za-z0-9-_.] (including '/', and each non-ASCII rune) becomes '-', the
// result is cut to MaxLabelKeyLen characters, and trailing characters that
// are not letters or digits are dropped (the name agones.dev/sdk-<key>
// must end with one). It returns an error wrapping ErrInvalidLabel when
// nothing is left. The function is deterministic and idempotent.
func SanitizeLabelKey(key string) (string, error) {
	s := sanitize(key, MaxLabelKeyLen)
	s = strings.TrimRightFunc(s, isNotAlnum)
	if s == "" {
		return "", fmt.Errorf("%w: key %q has no letter or digit to keep", ErrInvalidLabel, key)
	}
	return s, nil
}

// SanitizeLabelValue returns value made acceptable as a label value: every
// character outside [A-Za-z0-9-_.] becomes '-', characters that are not
// letters or digits are dropped from both ends, and the result is cut to
// MaxLabelValueLen characters (then trimmed again at its end). The empty
// value is valid and returned as is; a non-empty value that leaves nothing
// is an error wrapping ErrInvalidLabel. The function is deterministic and
// idempotent.
func SanitizeLabelValue(value string) (string, error) {
	if value == "" {
		return "", nil
	}
	s := strings.TrimFunc(sanitize(value, -1), isNotAlnum)
	if len(s) > MaxLabelValueLen {
		s = strings.TrimRightFunc(s[:MaxLabelValueLen], isNotAlnum)
	}
	if s == "" {
		return "", fmt.Errorf("%w: value %q has no letter or digit to keep", ErrInvalidLabel, value)
	}
	return s, nil
}

// sanitize replaces every rune outside the label alphabet with '-' and
// cuts the result to max bytes (all ASCII by then); max < 0 keeps all.
func sanitize(s string, max int) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if max >= 0 && b.Len() == max {
			break
		}
		if isAlnum(r) || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func isAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

func isNotAlnum(r rune) bool { return !isAlnum(r) }
