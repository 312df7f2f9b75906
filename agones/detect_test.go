package agones

import (
	"flag"
	"testing"
	"time"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		mode        Mode
		env         string
		wantURL     string
		wantEnabled bool
		wantErr     bool
	}{
		{ModeAuto, "", "", false, false},
		{ModeAuto, "9358", "http://localhost:9358", true, false},
		{ModeAuto, "12345", "http://localhost:12345", true, false},
		{ModeAuto, "nope", "", false, true},
		{ModeAuto, "0", "", false, true},
		{ModeAuto, "70000", "", false, true},
		{ModeOn, "", "http://localhost:9358", true, false},
		{ModeOn, "9400", "http://localhost:9400", true, false},
		{ModeOn, "-1", "", false, true},
		{ModeOff, "9358", "", false, false},
		{ModeOff, "garbage", "", false, false},
		{Mode(7), "", "", false, true},
	}
	for _, tt := range tests {
		getenv := func(k string) string {
			if k == EnvHTTPPort {
				return tt.env
			}
			return ""
		}
		url, enabled, err := Detect(tt.mode, getenv)
		if url != tt.wantURL || enabled != tt.wantEnabled || (err != nil) != tt.wantErr {
			t.Errorf("Detect(%v, %q) = %q, %v, %v; want %q, %v, err %v",
				tt.mode, tt.env, url, enabled, err, tt.wantURL, tt.wantEnabled, tt.wantErr)
		}
	}
}

func TestModeFlag(t *testing.T) {
	var m Mode
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(&m, "agones", "auto|on|off")
	if m != ModeAuto || m.String() != "auto" {
		t.Fatalf("zero Mode = %v", m)
	}
	for _, s := range []string{"on", "off", "auto"} {
		if err := fs.Parse([]string{"-agones", s}); err != nil || m.String() != s {
			t.Errorf("-agones %s: %v, %v", s, m, err)
		}
	}
	if err := m.Set("yes"); err == nil {
		t.Error("Set(yes) accepted")
	}
	if err := m.UnmarshalText([]byte("off")); err != nil || m != ModeOff {
		t.Errorf("UnmarshalText(off) = %v, %v", m, err)
	}
	if b, _ := ModeOn.MarshalText(); string(b) != "on" {
		t.Errorf("MarshalText = %s", b)
	}
}

func TestBackoffMax(t *testing.T) {
	base, cap := 100*time.Millisecond, 2*time.Second
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000}
	for i, w := range want {
		if got := backoffMax(base, cap, i+1); got != w*time.Millisecond {
			t.Errorf("backoffMax(n=%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := backoffMax(base, cap, 1000); got != cap {
		t.Errorf("backoffMax(n=1000) = %v", got)
	}
	for range 100 {
		if d := fullJitter(50 * time.Millisecond); d < 0 || d > 50*time.Millisecond {
			t.Fatalf("fullJitter out of range: %v", d)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, u := range []string{"", "localhost:9358", "ftp://x", "http://"} {
		if _, err := New(u, Config{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	for _, cfg := range []Config{{MaxAttempts: -1}, {AttemptTimeout: -1}, {BackoffBase: time.Second, BackoffCap: time.Millisecond}} {
		if _, err := New("http://localhost:9358", cfg); err == nil {
			t.Errorf("New with %+v accepted", cfg)
		}
	}
	t.Setenv(EnvHTTPPort, "9400")
	c, err := NewFromEnv(Config{})
	if err != nil || c.BaseURL() != "http://localhost:9400" {
		t.Fatalf("NewFromEnv = %v, %v", c, err)
	}
}
