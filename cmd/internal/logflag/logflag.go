// Package logflag is the --log-format and --log-level flags the vox
// binaries share, and the slog.Logger they make: JSON in containers, text
// on a terminal.
package logflag

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Flags holds the two flags' values.
type Flags struct {
	format string
	level  string
	lvl    slog.Level
}

// Register adds --log-format and --log-level to fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.format, "log-format", "auto",
		"log format: json, text, or auto (text on a terminal, JSON otherwise, e.g. in a container).")
	fs.StringVar(&f.level, "log-level", "info", "log level: debug, info, warn or error.")
	return f
}

// Validate checks the values once the flags are parsed.
func (f *Flags) Validate() error {
	if err := f.lvl.UnmarshalText([]byte(f.level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	switch f.format {
	case "auto", "json", "text":
	default:
		return fmt.Errorf("--log-format %q: want json, text or auto", f.format)
	}
	return nil
}

// Level is the parsed --log-level (after Validate).
func (f *Flags) Level() slog.Level { return f.lvl }

// New makes the logger writing to w (after Validate): auto is text when w
// is a terminal, else JSON.
func (f *Flags) New(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: f.lvl}
	format := f.format
	if format == "auto" {
		format = "json"
		if file, ok := w.(*os.File); ok && IsTerminal(file) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
