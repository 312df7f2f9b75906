package envflag

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func newSet() (*flag.FlagSet, *string, *int, *time.Duration) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	a := fs.String("udp-addr", ":7000", "address")
	n := fs.Int("shards", 0, "shards")
	d := fs.Duration("tick", time.Millisecond, "tick")
	return fs, a, n, d
}

func TestParse(t *testing.T) {
	env := map[string]string{"VOX_UDP_ADDR": "127.0.0.1:9", "VOX_SHARDS": "3", "VOX_TICK": "7ms"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs, a, n, d := newSet()
	if err := Parse(fs, "VOX_", []string{"--shards", "5"}, lookup); err != nil {
		t.Fatal(err)
	}
	if *a != "127.0.0.1:9" || *n != 5 || *d != 7*time.Millisecond {
		t.Fatalf("got %q %d %v: flag must win, env must fill the rest", *a, *n, *d)
	}

	env["VOX_SHARDS"] = "many"
	fs, _, _, _ = newSet()
	err := Parse(fs, "VOX_", nil, lookup)
	if err == nil || !strings.Contains(err.Error(), "VOX_SHARDS") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestUsageNamesEnv(t *testing.T) {
	fs, _, _, _ := newSet()
	var out bytes.Buffer
	fs.SetOutput(&out)
	Usage(fs, "VOX_", "summary line")()
	for _, want := range []string{"summary line", "--udp-addr", "$VOX_UDP_ADDR", "(default :7000)", "$VOX_TICK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

// ParseCommand: the environment fills what the command line did not give,
// --help is flag.ErrHelp with the usage printed, positional arguments are
// refused.
func TestParseCommand(t *testing.T) {
	newFS := func(out *strings.Builder) (*flag.FlagSet, *int) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(out)
		return fs, fs.Int("batch-size", 1, "datagrams per call")
	}
	env := func(k string) (string, bool) { return map[string]string{"X_BATCH_SIZE": "9"}[k], k == "X_BATCH_SIZE" }
	var out strings.Builder
	fs, n := newFS(&out)
	if err := ParseCommand(fs, "X_", "the summary", nil, env); err != nil || *n != 9 {
		t.Fatalf("from the environment: %v, %d", err, *n)
	}
	fs, _ = newFS(&out)
	if err := ParseCommand(fs, "X_", "the summary", []string{"--help"}, env); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(out.String(), "the summary") || !strings.Contains(out.String(), "$X_BATCH_SIZE") {
		t.Fatalf("--help: %v\n%s", err, out.String())
	}
	fs, _ = newFS(&out)
	if err := ParseCommand(fs, "X_", "s", []string{"extra"}, env); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Fatalf("a positional argument: %v", err)
	}
}
