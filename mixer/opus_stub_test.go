//go:build !opus

package mixer

import (
	"errors"
	"testing"
)

func TestStubNoOpus(t *testing.T) {
	if OpusAvailable {
		t.Fatal("OpusAvailable in a build without the opus tag")
	}
	if _, err := NewEncoder(EncoderOptions{}); !errors.Is(err, ErrNoOpus) {
		t.Errorf("NewEncoder: %v", err)
	}
	if _, err := NewDecoder(); !errors.Is(err, ErrNoOpus) {
		t.Errorf("NewDecoder: %v", err)
	}
	if _, err := NewMixer(MixOptions{}); !errors.Is(err, ErrNoOpus) {
		t.Errorf("NewMixer: %v", err)
	}
	var e *Encoder
	if _, err := e.Encode(nil, nil); !errors.Is(err, ErrNoOpus) {
		t.Errorf("Encode: %v", err)
	}
	var d *Decoder
	if _, err := d.Decode(nil, nil); !errors.Is(err, ErrNoOpus) {
		t.Errorf("Decode: %v", err)
	}
	if want := "vox was built without libopus: rebuild with -tags opus"; ErrNoOpus.Error() != want {
		t.Errorf("message %q", ErrNoOpus.Error())
	}
}
