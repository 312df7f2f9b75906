package envflag

import (
	"bytes"
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
