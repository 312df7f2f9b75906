package agones

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Environment variable Agones injects into the game server container, and
// its default.
const (
	EnvHTTPPort     = "AGONES_SDK_HTTP_PORT"
	DefaultHTTPPort = 9358
)

// Mode says whether vox runs under Agones. The zero Mode is ModeAuto. Mode
// is a flag.Value and an encoding.TextUnmarshaler: "auto", "on", "off".
type Mode int

// Modes.
const (
	// ModeAuto runs under Agones when AGONES_SDK_HTTP_PORT is set.
	ModeAuto Mode = iota
	// ModeOn always runs under Agones (port DefaultHTTPPort when the
	// variable is unset) and expects the sidecar to answer.
	ModeOn
	// ModeOff never talks to a sidecar: vox runs standalone.
	ModeOff
)

var modeNames = [...]string{ModeAuto: "auto", ModeOn: "on", ModeOff: "off"}

// String implements flag.Value.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Set implements flag.Value.
func (m *Mode) Set(s string) error {
	for i, n := range modeNames {
		if s == n {
			*m = Mode(i)
			return nil
		}
	}
	return fmt.Errorf("agones: mode %q: want auto, on or off", s)
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error { return m.Set(string(b)) }

// Detect decides from the environment whether vox talks to a sidecar, and
// where: in ModeAuto only when AGONES_SDK_HTTP_PORT is set, in ModeOn
// always (port DefaultHTTPPort when it is unset), in ModeOff never. A set
// but invalid port is an error in ModeAuto and ModeOn. getenv is nil for
// os.Getenv. baseURL is http://localhost:PORT, empty when not enabled.
func Detect(mode Mode, getenv func(string) string) (baseURL string, enabled bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	env := getenv(EnvHTTPPort)
	switch mode {
	case ModeOff:
		return "", false, nil
	case ModeAuto:
		if env == "" {
			return "", false, nil
		}
	case ModeOn:
		if env == "" {
			return "http://localhost:" + strconv.Itoa(DefaultHTTPPort), true, nil
		}
	default:
		return "", false, fmt.Errorf("agones: unknown mode %d", int(mode))
	}
	port, err := portString(env)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", EnvHTTPPort, err)
	}
	return "http://localhost:" + strconv.Itoa(port), true, nil
}

// WaitReachable asks the sidecar for the GameServer up to attempts times
// (at least once), waiting the client's backoff between tries, and returns
// the first GameServer it gets. voxd calls it at start in ModeOn: the
// sidecar may start after the game server. When the sidecar never
// answers, the error says so and wraps the last failure (ErrUnavailable
// when nothing listened). Refusals (4xx) end the wait at once.
func WaitReachable(ctx context.Context, c *Client, attempts int) (GameServer, error) {
	attempts = max(attempts, 1)
	start := time.Now()
	var (
		err error
		n   int
	)
	for n = 1; ; n++ {
		var gs GameServer
		gs, err = c.gameServer(ctx, 1)
		if err == nil {
			return gs, nil
		}
		var ae *Error
		if ctx.Err() != nil || n >= attempts || (errors.As(err, &ae) && !retryable(ae)) {
			break
		}
		if werr := sleep(ctx, c.backoff(n)); werr != nil {
			break
		}
	}
	return GameServer{}, fmt.Errorf("agones: the SDK sidecar at %s did not answer (%d attempts in %v): %w",
		c.base, n, time.Since(start).Round(time.Millisecond), err)
}
