package sessionmgr

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
)

// Defaults.
const (
	DefaultMaxSessions            = 500
	DefaultMaxParticipants        = 4000
	DefaultMaxSessionParticipants = 64
	DefaultJoinTimeout            = 30 * time.Second
	DefaultIdleTimeout            = 30 * time.Second
	DefaultReportInterval         = 5 * time.Second
	// DefaultEmptyTimeout is how long a session made by PUT stays without
	// participants (SessionOptions.EmptyTimeout bounded by Min/Max).
	DefaultEmptyTimeout          = 5 * time.Minute
	MinEmptyTimeout              = time.Second
	MaxEmptyTimeout              = 24 * time.Hour
	DefaultAudioLevelExtensionID = 1
	// DefaultMaxSpeakers is how many of the loudest speakers of a
	// channel are forwarded; MaxMaxSpeakers bounds the setting.
	DefaultMaxSpeakers = mixer.DefaultMaxSpeakers
	MaxMaxSpeakers     = 64
	// DefaultProbeRate and DefaultProbeBurst bound how many packets per
	// second from an address other than a participant's latched one are
	// put through SRTP authentication (the only way to tell a NAT rebind
	// from a forgery).
	DefaultProbeRate  = 10
	DefaultProbeBurst = 20
	// DefaultCPUHigh and DefaultCPULow are the admission marks (percent).
	DefaultCPUHigh = 75
	DefaultCPULow  = 60

	// Drain defaults.
	DefaultDrainGrace    = 60 * time.Second
	DefaultDrainRate     = 200
	DefaultDrainDeadline = 10 * time.Minute
	DefaultNoticeWindow  = 2 * time.Second
	// MaxDrainDuration bounds a drain's grace period and deadline.
	MaxDrainDuration = 24 * time.Hour
	// Reconnect notices are sent once, then repeated NoticeRepeats times
	// every NoticeRepeatEvery until the participant leaves.
	NoticeRepeats     = 3
	NoticeRepeatEvery = time.Second
)

// Config configures a Manager. Zero values mean the defaults.
type Config struct {
	Limits Limits
	// DefaultProfile is the SRTP profile of sessions that do not choose one.
	DefaultProfile media.Profile
	JoinTimeout    time.Duration
	IdleTimeout    time.Duration
	// ReportInterval is how often the server sends each participant an
	// RTCP receiver report about its stream.
	ReportInterval time.Duration
	// EmptyTimeout is the default of SessionOptions.EmptyTimeout: how
	// long a session made by PUT stays without participants. Default 5 min.
	EmptyTimeout time.Duration
	// PublicAddr and PublicPort are what admissions tell clients to send
	// to. Port 0 means the UDP core's own port.
	PublicAddr string
	PublicPort int
	// AudioLevelExtensionID is the RFC 8285 id of the RFC 6464 audio level.
	AudioLevelExtensionID uint8
	// MaxSpeakers is the default of SessionOptions.MaxSpeakers (3).
	MaxSpeakers int
	ProbeRate   int
	ProbeBurst  int
	// DrainDeadline is a drain's default hard end, from its start: keep it
	// below the pod's terminationGracePeriodSeconds. Default 10 min.
	DrainDeadline time.Duration
	// DrainExit is the default of DrainRequest.Exit (voxd: true under Agones).
	DrainExit bool
	// CPUHigh and CPULow are the admission marks, in percent of the
	// container's CPU allowance (see SetCPU): at or above CPUHigh the pod
	// stops admitting, and resumes only below CPULow. Defaults 75 and 60.
	CPUHigh float64
	CPULow  float64
	Logger  *slog.Logger
	// Now is the wall clock for the API's timestamps (tests); time.Now
	// when nil. Packet timing uses netio.Now.
	Now func() time.Time
}

// Validate checks c and fills in the defaults; errors wrap ErrInvalid.
func (c *Config) Validate() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Limits.MaxSessions, DefaultMaxSessions)
	def(&c.Limits.MaxParticipants, DefaultMaxParticipants)
	def(&c.Limits.MaxSessionParticipants, DefaultMaxSessionParticipants)
	def(&c.ProbeRate, DefaultProbeRate)
	def(&c.MaxSpeakers, DefaultMaxSpeakers)
	if c.MaxSpeakers < 1 || c.MaxSpeakers > MaxMaxSpeakers {
		return fmt.Errorf("%w: max speakers %d outside 1..%d", ErrInvalid, c.MaxSpeakers, MaxMaxSpeakers)
	}
	def(&c.ProbeBurst, DefaultProbeBurst)
	if c.Limits.MaxSessions < 1 || c.Limits.MaxParticipants < 1 || c.Limits.MaxSessionParticipants < 2 {
		return fmt.Errorf("%w: limits must be positive (a session needs room for 2): %+v", ErrInvalid, c.Limits)
	}
	if c.DefaultProfile == 0 {
		c.DefaultProfile = media.DefaultProfile
	}
	if !c.DefaultProfile.Valid() {
		return fmt.Errorf("%w: SRTP profile %d", ErrInvalid, c.DefaultProfile)
	}
	dur := func(v *time.Duration, d time.Duration, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 10*time.Millisecond {
			return fmt.Errorf("%w: %s %v too short", ErrInvalid, name, *v)
		}
		return nil
	}
	if err := dur(&c.JoinTimeout, DefaultJoinTimeout, "join timeout"); err != nil {
		return err
	}
	if err := dur(&c.IdleTimeout, DefaultIdleTimeout, "idle timeout"); err != nil {
		return err
	}
	if err := dur(&c.ReportInterval, DefaultReportInterval, "report interval"); err != nil {
		return err
	}
	if err := dur(&c.DrainDeadline, DefaultDrainDeadline, "drain deadline"); err != nil {
		return err
	}
	if err := dur(&c.EmptyTimeout, DefaultEmptyTimeout, "empty timeout"); err != nil {
		return err
	}
	if c.EmptyTimeout < MinEmptyTimeout || c.EmptyTimeout > MaxEmptyTimeout {
		return fmt.Errorf("%w: empty timeout %v outside %v..%v", ErrInvalid, c.EmptyTimeout, MinEmptyTimeout, MaxEmptyTimeout)
	}
	if c.AudioLevelExtensionID == 0 {
		c.AudioLevelExtensionID = DefaultAudioLevelExtensionID
	}
	if c.AudioLevelExtensionID > 14 {
		return fmt.Errorf("%w: audio level extension id %d outside 1..14", ErrInvalid, c.AudioLevelExtensionID)
	}
	if c.CPUHigh == 0 {
		c.CPUHigh = DefaultCPUHigh
	}
	if c.CPULow == 0 {
		c.CPULow = DefaultCPULow
	}
	if c.CPULow <= 0 || c.CPULow >= c.CPUHigh {
		return fmt.Errorf("%w: CPU low mark %.0f%% must be above 0 and below the high mark %.0f%%", ErrInvalid, c.CPULow, c.CPUHigh)
	}
	if c.ProbeRate < 1 || c.ProbeBurst < 1 {
		return fmt.Errorf("%w: probe rate and burst must be positive", ErrInvalid)
	}
	if c.PublicPort < 0 || c.PublicPort > 65535 {
		return fmt.Errorf("%w: public port %d", ErrInvalid, c.PublicPort)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
