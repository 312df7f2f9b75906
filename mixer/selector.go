package mixer

import "time"

// Selector defaults.
const (
	DefaultMaxSpeakers = 3
	// DefaultAttack and DefaultRelease are the time constants of the
	// smoothed loudness: it rises fast (a new talker is heard quickly)
	// and falls slowly (a talker pausing between words keeps its slot).
	DefaultAttack  = 10 * time.Millisecond
	DefaultRelease = 200 * time.Millisecond
	// A challenger displaces the quietest selected speaker when its
	// smoothed loudness exceeds the incumbent's by DefaultMargin dB for
	// DefaultHold, or by DefaultFastMargin dB for DefaultFastHold.
	DefaultMargin     = 6
	DefaultHold       = 300 * time.Millisecond
	DefaultFastMargin = 15
	DefaultFastHold   = 40 * time.Millisecond
	// DefaultSilence: a speaker whose last voice packet (level below
	// SilentLevel) is this old is inactive and loses its slot.
	DefaultSilence = 400 * time.Millisecond
	// DefaultSilentLevel: RFC 6464 levels at or above it are silence.
	DefaultSilentLevel = 127
)

// SelectorConfig tunes a Selector; zero values mean the defaults.
type SelectorConfig struct {
	MaxSpeakers int
	Attack      time.Duration
	Release     time.Duration
	Margin      float64 // dB
	Hold        time.Duration
	FastMargin  float64 // dB
	FastHold    time.Duration
	Silence     time.Duration
	SilentLevel int
}

func (c *SelectorConfig) defaults() {
	if c.MaxSpeakers <= 0 {
		c.MaxSpeakers = DefaultMaxSpeakers
	}
	if c.Attack <= 0 {
		c.Attack = DefaultAttack
	}
	if c.Release <= 0 {
		c.Release = DefaultRelease
	}
	if c.Margin <= 0 {
		c.Margin = DefaultMargin
	}
	if c.Hold <= 0 {
		c.Hold = DefaultHold
	}
	if c.FastMargin <= 0 {
		c.FastMargin = DefaultFastMargin
	}
	if c.FastHold <= 0 {
		c.FastHold = DefaultFastHold
	}
	if c.Silence <= 0 {
		c.Silence = DefaultSilence
	}
	if c.SilentLevel <= 0 || c.SilentLevel > 127 {
		c.SilentLevel = DefaultSilentLevel
	}
}

// Selector picks the loudest speakers of a session (or of one channel).
//
// Each speaker's loudness is 127 minus its RFC 6464 level (dB above
// -127 dBov), smoothed by an exponential moving average whose time
// constant is Attack when the loudness rises and Release when it falls; a
// speaker coming back from silence starts at its packet's loudness.
//
// A speaker is active while its last voice packet (level below
// SilentLevel) is less than Silence old; an inactive speaker loses its slot
// (no packets at all, or only silent ones, for Silence). A free slot goes
// at once to the loudest active unselected speaker. When all MaxSpeakers
// slots are taken, the loudest challenger replaces the quietest incumbent
// only when its smoothed loudness stays above the incumbent's by Margin
// for Hold (or by FastMargin for FastHold: a clearly louder new talker gets
// in within about 40-100 ms); otherwise the set does not change, so levels
// flapping around each other cause no switches.
//
// Speakers whose packets carry no level are always selected and take no
// slot (the server cannot rank them).
//
// The selection is updated by Observe; Selected only reads it.
type Selector struct {
	cfg      SelectorConfig
	speakers []speaker
	nsel     int
	// The current challenger, since when it leads the quietest
	// incumbent by Margin (0: it does not) and by FastMargin.
	chal                uint32
	chalSince, chalFast int64
	// Switches counts incumbents replaced by a challenger; Entries counts
	// every speaker that got a slot (including replacements).
	Switches, Entries uint64
}

type speaker struct {
	ssrc      uint32
	loud      float64 // smoothed loudness, dB above -127 dBov
	last      int64   // last packet
	lastVoice int64   // last packet with a level below SilentLevel
	noLevel   bool    // its last packet carried no level
	selected  bool
}

// NewSelector makes a Selector.
func NewSelector(cfg SelectorConfig) *Selector {
	cfg.defaults()
	return &Selector{cfg: cfg}
}

// MaxSpeakers is the number of slots.
func (s *Selector) MaxSpeakers() int { return s.cfg.MaxSpeakers }

func (s *Selector) find(ssrc uint32) int {
	for i := range s.speakers {
		if s.speakers[i].ssrc == ssrc {
			return i
		}
	}
	return -1
}

// Remove forgets a speaker (it left, was muted or changed channel).
func (s *Selector) Remove(ssrc uint32) {
	i := s.find(ssrc)
	if i < 0 {
		return
	}
	if s.speakers[i].selected {
		s.nsel--
	}
	last := len(s.speakers) - 1
	s.speakers[i] = s.speakers[last]
	s.speakers = s.speakers[:last]
}

// Observe records a packet of ssrc with RFC 6464 level (0 loudest .. 127
// silent; -1: the packet carries none) at now, and updates the selection.
func (s *Selector) Observe(ssrc uint32, level int, now int64) {
	i := s.find(ssrc)
	if i < 0 {
		s.speakers = append(s.speakers, speaker{ssrc: ssrc})
		i = len(s.speakers) - 1
	}
	sp := &s.speakers[i]
	if level < 0 {
		if !sp.noLevel && sp.selected {
			sp.selected = false
			s.nsel--
		}
		sp.noLevel = true
		sp.last = now
		s.update(now)
		return
	}
	sp.noLevel = false
	if level > 127 {
		level = 127
	}
	loud := float64(127 - level)
	wasActive := s.active(sp, now)
	if level < s.cfg.SilentLevel {
		if !wasActive {
			sp.loud = loud // back from silence: start at its level
		}
		sp.lastVoice = now
	}
	if dt := now - sp.last; sp.last != 0 && dt > 0 {
		tau := s.cfg.Release
		if loud > sp.loud {
			tau = s.cfg.Attack
		}
		a := float64(dt) / float64(int64(tau)+dt)
		sp.loud += a * (loud - sp.loud)
	} else if sp.last == 0 {
		sp.loud = loud
	}
	sp.last = now
	s.update(now)
}

func (s *Selector) active(sp *speaker, now int64) bool {
	return sp.lastVoice != 0 && now-sp.lastVoice < int64(s.cfg.Silence)
}

// update frees the slots of inactive speakers, fills free slots, and lets
// a challenger displace the quietest incumbent under the hysteresis rules.
func (s *Selector) update(now int64) {
	for i := range s.speakers {
		sp := &s.speakers[i]
		if sp.selected && !s.active(sp, now) {
			sp.selected = false
			s.nsel--
		}
	}
	for {
		c := s.loudestChallenger(now)
		if c < 0 {
			return
		}
		ch := &s.speakers[c]
		if s.nsel < s.cfg.MaxSpeakers {
			ch.selected = true
			s.chalSince, s.chalFast = 0, 0
			s.nsel++
			s.Entries++
			continue
		}
		q := s.quietestIncumbent()
		inc := &s.speakers[q]
		lead := ch.loud - inc.loud
		if ch.ssrc != s.chal {
			s.chal, s.chalSince, s.chalFast = ch.ssrc, 0, 0
		}
		if lead < s.cfg.Margin {
			s.chalSince, s.chalFast = 0, 0
			return
		}
		if s.chalSince == 0 {
			s.chalSince = now
		}
		if lead < s.cfg.FastMargin {
			s.chalFast = 0
		} else if s.chalFast == 0 {
			s.chalFast = now
		}
		if now-s.chalSince >= int64(s.cfg.Hold) || (s.chalFast != 0 && now-s.chalFast >= int64(s.cfg.FastHold)) {
			inc.selected = false
			ch.selected = true
			s.chalSince, s.chalFast = 0, 0
			s.Switches++
			s.Entries++
		}
		return
	}
}

func (s *Selector) loudestChallenger(now int64) int {
	best := -1
	for i := range s.speakers {
		sp := &s.speakers[i]
		if sp.selected || sp.noLevel || !s.active(sp, now) {
			continue
		}
		if best < 0 || sp.loud > s.speakers[best].loud {
			best = i
		}
	}
	return best
}

func (s *Selector) quietestIncumbent() int {
	q := -1
	for i := range s.speakers {
		sp := &s.speakers[i]
		if sp.selected && (q < 0 || sp.loud < s.speakers[q].loud) {
			q = i
		}
	}
	return q
}

// Selected reports whether ssrc's packets are forwarded: it holds a slot,
// or its packets carry no level. An unknown speaker is not selected.
func (s *Selector) Selected(ssrc uint32) bool {
	i := s.find(ssrc)
	return i >= 0 && (s.speakers[i].selected || s.speakers[i].noLevel)
}

// Loudness is ssrc's smoothed loudness in dB above -127 dBov (0 if unknown).
func (s *Selector) Loudness(ssrc uint32) float64 {
	if i := s.find(ssrc); i >= 0 {
		return s.speakers[i].loud
	}
	return 0
}

// NumSelected is the number of taken slots.
func (s *Selector) NumSelected() int { return s.nsel }
