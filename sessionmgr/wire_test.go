package sessionmgr

import (
	"bytes"
	"testing"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

func TestWireProfiles(t *testing.T) {
	mp, ap := media.Profiles(), api.Profiles()
	if len(mp) != len(ap) {
		t.Fatalf("media has %d profiles, api %d", len(mp), len(ap))
	}
	for i, p := range mp {
		if apiProfile(p) != ap[i] || !apiProfile(p).Valid() || mediaProfile(apiProfile(p)) != p {
			t.Errorf("%s: api %q, back %s", p, apiProfile(p), mediaProfile(apiProfile(p)))
		}
	}
	if apiProfile(media.DefaultProfile) != api.DefaultProfile {
		t.Error("the defaults differ")
	}
	if mediaProfile("ROT13").Valid() || mediaProfile("").Valid() {
		t.Error("an unknown name is a media profile")
	}
	keys, err := media.GenerateSessionKeys(media.ProfileAEADAES128GCM)
	if err != nil {
		t.Fatal(err)
	}
	k := apiKeys(keys)
	if k.Profile != api.ProfileAEADAES128GCM || !bytes.Equal(k.ClientToServer.Key, keys.ClientToServer.Key) ||
		!bytes.Equal(k.ServerToClient.Salt, keys.ServerToClient.Salt) {
		t.Errorf("apiKeys: %+v", k)
	}
}
