package api

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
