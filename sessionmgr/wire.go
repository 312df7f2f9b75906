package sessionmgr

import (
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// The wire types (package api) name SRTP profiles and carry keys in their
// own types; sessionmgr works with media's. These convert at the edge.

// mediaProfile returns the media profile named p, 0 (not a profile) if p
// is not Valid.
func mediaProfile(p api.Profile) media.Profile {
	mp, _ := media.ParseProfile(string(p))
	return mp
}

// apiProfile returns the wire name of p.
func apiProfile(p media.Profile) api.Profile { return api.Profile(p.String()) }

// apiKeys returns a participant's key material as the admission carries it.
func apiKeys(k media.SessionKeys) api.SRTPKeys {
	return api.SRTPKeys{
		Profile:        apiProfile(k.Profile),
		ClientToServer: api.Keys(k.ClientToServer),
		ServerToClient: api.Keys(k.ServerToClient),
	}
}
