package agones

import (
	"errors"
	"strings"
	"testing"
)

func TestSanitizeLabelKey(t *testing.T) {
	long := strings.Repeat("k", 70)
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "vox-sessions", want: "vox-sessions"},
		{in: "Vox_CPU.load2", want: "Vox_CPU.load2"},
		{in: "vox/sessions", want: "vox-sessions"},
		{in: "vox sessions!", want: "vox-sessions"},
		{in: "héllo", want: "h-llo"},
		{in: "_private", want: "_private"}, // sdk-_private is a valid name
		{in: "trailing-._", want: "trailing"},
		{in: long, want: long[:MaxLabelKeyLen]},
		{in: strings.Repeat("a", 58) + "-b", want: strings.Repeat("a", 58)},
		{in: "", wantErr: true},
		{in: "///", wantErr: true},
		{in: "-._", wantErr: true},
		{in: "日本", wantErr: true},
	}
	for _, tt := range tests {
		got, err := SanitizeLabelKey(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidLabel) {
				t.Errorf("SanitizeLabelKey(%q) = %q, %v; want ErrInvalidLabel", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SanitizeLabelKey(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := SanitizeLabelKey(got); err != nil || again != got {
			t.Errorf("SanitizeLabelKey not idempotent on %q: %q, %v", got, again, err)
		}
	}
}

func TestSanitizeLabelValue(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "", want: ""},
		{in: "12", want: "12"},
		{in: "true", want: "true"},
		{in: "0.75", want: "0.75"},
		{in: "12 users", want: "12-users"},
		{in: "-12-", want: "12"},
		{in: "_a.b_", want: "a.b"},
		{in: "eu-west/1", want: "eu-west-1"},
		{in: "ünïcode", want: "n-code"},
		{in: strings.Repeat("v", 80), want: strings.Repeat("v", MaxLabelValueLen)},
		// cut at 63, the cut ends on '-', trimmed again
		{in: strings.Repeat("v", 62) + "-x", want: strings.Repeat("v", 62)},
		// leading junk is trimmed before the cut
		{in: "---" + strings.Repeat("v", 63), want: strings.Repeat("v", 63)},
		{in: "---", wantErr: true},
		{in: " ", wantErr: true},
		{in: "ÿ", wantErr: true},
	}
	for _, tt := range tests {
		got, err := SanitizeLabelValue(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidLabel) {
				t.Errorf("SanitizeLabelValue(%q) = %q, %v; want ErrInvalidLabel", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SanitizeLabelValue(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := SanitizeLabelValue(got); err != nil || again != got {
			t.Errorf("SanitizeLabelValue not idempotent on %q: %q, %v", got, again, err)
		}
	}
}
