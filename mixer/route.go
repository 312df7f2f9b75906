package mixer

// GlobalChannel is the channel every participant is in unless put in
// another.
const GlobalChannel = "global"

// Member is one participant's routing state. Channel 0 is the global
// channel; other channels are small numbers a session assigns to names.
type Member struct {
	SSRC uint32
	// Muted: muted by the server (moderation): nobody hears it.
	Muted   bool
	Channel uint16
	// Mutes are the SSRCs this listener chose not to hear.
	Mutes []uint32
}

// Hears reports whether listener l receives speaker s:
//   - never itself, nor a speaker muted by the server, nor one in l's own
//     mute list;
//   - channels: a speaker in the global channel is heard by everybody; a
//     listener in the global channel hears everybody; otherwise only
//     members of the same channel hear each other (red hears red and
//     global, never blue).
func Hears(l, s *Member) bool {
	if l == s || s.Muted {
		return false
	}
	if s.Channel != 0 && l.Channel != 0 && s.Channel != l.Channel {
		return false
	}
	for _, m := range l.Mutes {
		if m == s.SSRC {
			return false
		}
	}
	return true
}
