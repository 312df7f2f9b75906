package logflag

import (
	"bytes"
	"flag"
	"log/slog"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		err    string
		json   bool
		levels slog.Level
	}{
		{nil, "", true, slog.LevelInfo},
		{[]string{"--log-format", "text", "--log-level", "debug"}, "", false, slog.LevelDebug},
		{[]string{"--log-format", "xml"}, "--log-format", false, 0},
		{[]string{"--log-level", "loud"}, "--log-level", false, 0},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := Register(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		err := f.Validate()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %s", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || f.Level() != tt.levels {
			t.Fatalf("%v: %v, level %v", tt.args, err, f.Level())
		}
		var out bytes.Buffer // not a terminal: auto is JSON
		f.New(&out).Debug("d")
		f.New(&out).Info("hello")
		if got := strings.HasPrefix(out.String(), "{"); got != tt.json {
			t.Errorf("%v: JSON %v, want %v: %s", tt.args, got, tt.json, out.String())
		}
		if strings.Contains(out.String(), "msg=d") != (tt.levels == slog.LevelDebug) {
			t.Errorf("%v: level not applied: %s", tt.args, out.String())
		}
	}
}
