package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// hasControl reports a terminal control character in s (newlines and
// tabs of voxctl's own layout aside).
func hasControl(s string) bool {
	for _, r := range s {
		if r != '\n' && r != '\t' && isControl(r) {
			return true
		}
	}
	return false
}

// TestNoTerminalEscapes: text from the server (reasons, ids, error
// messages) is printed without its control characters; --json stays
// JSON, with them escaped.
func TestNoTerminalEscapes(t *testing.T) {
	const evil = "maint\x1b[31mRED\r\u009b2J\x7f\x07"
	const shown = `maint\x1b[31mRED\r\u009b2J\x7f\x07`
	p := newPod(t)
	r := p.ctl(t, "accept-stop", "--reason", evil)
	r.want(t, 0, []string{"admission stopped: state stopped (" + shown + ")"}, nil)
	if hasControl(r.stdout) || hasControl(r.stderr) {
		t.Errorf("accept-stop printed control characters: %q %q", r.stdout, r.stderr)
	}
	r = p.ctl(t, "status")
	r.want(t, 0, []string{"reason:        " + shown + "\n"}, nil)

	p.fake.set(func(f *fake) {
		f.sessions[0].ID = "room\x1b]0;pwned\x07\ttab"
		f.drain = &api.DrainStatus{Phase: "grace\x1b[2J", Reason: "SIGTERM\r\nforged line", StartedAt: time.Now()}
	})
	r = p.ctl(t, "status")
	r.want(t, 0, []string{`drain:         grace\x1b[2J (SIGTERM\r\nforged line)`}, nil)
	if hasControl(r.stdout) || strings.Contains(r.stdout, "\nforged line") {
		t.Errorf("status printed control characters:\n%q", r.stdout)
	}
	r = p.ctl(t, "sessions")
	r.want(t, 0, []string{`room\x1b]0;pwned\x07\ttab`}, nil)
	if hasControl(r.stdout) {
		t.Errorf("sessions printed control characters:\n%q", r.stdout)
	}

	// An error message from the server.
	p.fake.set(func(f *fake) { f.err = fmt.Errorf("%w: \x1b[2Jcleared\rover", api.ErrInvalid) })
	r = p.ctl(t, "reconnect")
	r.want(t, 2, nil, []string{`\x1b[2Jcleared\rover`})
	if hasControl(r.stderr) {
		t.Errorf("the error printed control characters: %q", r.stderr)
	}

	// --json: the same JSON, escaped.
	p.fake.set(func(f *fake) { f.err = nil })
	r = p.ctl(t, "--json", "sessions")
	if hasControl(r.stdout) {
		t.Errorf("--json printed control characters: %q", r.stdout)
	}
	var got struct{ Sessions []api.SessionInfo }
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got.Sessions) == 0 {
		t.Fatalf("--json: %v %q", err, r.stdout)
	}
	found := false
	for _, s := range got.Sessions {
		found = found || s.ID == "room\x1b]0;pwned\x07\ttab"
	}
	if !found {
		t.Errorf("--json changed the id: %q", r.stdout)
	}
	r = p.ctl(t, "--json", "status")
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Reason != evil || hasControl(r.stdout) {
		t.Errorf("--json status: %v %q", err, r.stdout)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"room-1":               "room-1",
		"héllo wörld ✓":        "héllo wörld ✓",
		"\x1b[31mred\x1b[0m":   `\x1b[31mred\x1b[0m`,
		"a\rb\nc\td\x00":       `a\rb\nc\td\x00`,
		"del\x7f":              `del\x7f`,
		"c1 \u009b csi \u0085": `c1 \u009b csi \u0085`,
		"bad \xff\xfe utf8":    `bad \xff\xfe utf8`,
		"\uFFFD kept":          "\uFFFD kept",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	var b bytes.Buffer
	printf(&b, "%s|%v|%q|%d|%s\n", "a\x1bb", fmt.Errorf("e\rr"), "q\x1b", 7, api.State("s\x1b"))
	if got := b.String(); got != `a\x1bb|e\rr|"q\x1b"|7|s\x1b`+"\n" {
		t.Errorf("printf: %q", got)
	}
	if got := string(jsonSafe([]byte("{\"a\":\"x\u0085\x7f\"}"))); got != `{"a":"x\u0085\u007f"}` {
		t.Errorf("jsonSafe: %q", got)
	}
}
