package client

import (
	"errors"
	"testing"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// wireKeys is keys as an admission carries them.
func wireKeys(keys media.SessionKeys) api.SRTPKeys {
	return api.SRTPKeys{Profile: APIProfile(keys.Profile),
		ClientToServer: api.Keys(keys.ClientToServer), ServerToClient: api.Keys(keys.ServerToClient)}
}

func TestWireProfiles(t *testing.T) {
	for i, p := range media.Profiles() {
		ap := APIProfile(p)
		if ap != api.Profiles()[i] {
			t.Errorf("%s: %q", p, ap)
		}
		if back, err := MediaProfile(ap); err != nil || back != p {
			t.Errorf("%q: %s, %v", ap, back, err)
		}
		keys, err := media.GenerateSessionKeys(p)
		if err != nil {
			t.Fatal(err)
		}
		if out, in, err := SRTPContexts(wireKeys(keys)); err != nil || out == nil || in == nil {
			t.Errorf("%s: contexts: %v", p, err)
		}
	}
	if _, _, err := SRTPContexts(api.SRTPKeys{Profile: "ROT13"}); !errors.Is(err, media.ErrUnknownProfile) {
		t.Errorf("unknown profile: %v", err)
	}
	keys, _ := media.GenerateSessionKeys(media.DefaultProfile)
	k := wireKeys(keys)
	k.ServerToClient.Salt = k.ServerToClient.Salt[:3]
	if _, _, err := SRTPContexts(k); !errors.Is(err, media.ErrBadKeys) {
		t.Errorf("short salt: %v", err)
	}
}
