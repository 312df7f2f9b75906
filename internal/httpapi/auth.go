package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strings"

	"github.com/voxfleet/vox/api"
)

// Bearer checks an RFC 6750 bearer token in constant time. The zero value
// (no token) lets every request through.
type Bearer struct {
	set  bool
	hash [sha256.Size]byte
}

// NewBearer returns the check of token; an empty token checks nothing.
func NewBearer(token string) Bearer {
	return Bearer{set: token != "", hash: sha256.Sum256([]byte(token))}
}

// Set reports whether a token is required.
func (b Bearer) Set() bool { return b.set }

// Check returns nil when r carries the token (or none is required), else
// the 401 unauthorized (no or a malformed Authorization header, with
// WWW-Authenticate) or 403 forbidden (another token) answer.
func (b Bearer) Check(w http.ResponseWriter, r *http.Request) error {
	if !b.set {
		return nil
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vox"`)
		return Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "an Authorization: Bearer <token> header is required")
	}
	// Hashing first makes the comparison constant-time in the length too.
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], b.hash[:]) != 1 {
		return Errorf(http.StatusForbidden, api.CodeForbidden, "the token is not valid")
	}
	return nil
}

// ValidToken reports whether token holds only RFC 6750 b64token
// characters (letters, digits and -._~+/=): anything else could never
// arrive intact in an Authorization header.
func ValidToken(token string) bool {
	for _, r := range token {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~+/=", r)) {
			return false
		}
	}
	return true
}

// IsLoopbackHost reports whether host (no port, brackets allowed) is
// "localhost" or a loopback IP. Names are not resolved.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
