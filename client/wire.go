package client

import (
	"fmt"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// MediaProfile returns the media profile named p (media.ErrUnknownProfile
// if vox's media layer does not know it).
func MediaProfile(p api.Profile) (media.Profile, error) { return media.ParseProfile(string(p)) }

// APIProfile returns the wire name of p, for AdmitRequest.Profile and
// SessionOptions.Profile.
func APIProfile(p media.Profile) api.Profile { return api.Profile(p.String()) }

// SRTPContexts makes the client's SRTP contexts from an admission's keys:
// an Outbound with the client-to-server keys and an Inbound with the
// server-to-client keys (Join does this; it is exported for clients that
// run their own sockets, such as voxbench's GSO transport).
func SRTPContexts(k api.SRTPKeys) (*media.Outbound, *media.Inbound, error) {
	prof, err := MediaProfile(k.Profile)
	if err != nil {
		return nil, nil, err
	}
	out, err := media.NewOutbound(prof, media.Keys(k.ClientToServer))
	if err != nil {
		return nil, nil, fmt.Errorf("client-to-server keys: %w", err)
	}
	in, err := media.NewInbound(prof, media.Keys(k.ServerToClient))
	if err != nil {
		return nil, nil, fmt.Errorf("server-to-client keys: %w", err)
	}
	return out, in, nil
}
