package agonesalloc

import (
	"errors"
	"fmt"
	"maps"

	"github.com/voxfleet/vox/router"
)

// Defaults for Fleet's zero fields: the names deploy/agones/fleet.yaml
// declares.
const (
	DefaultCounter  = "sessions"
	DefaultPortName = "media"
)

// FleetLabel is the label Agones puts on every GameServer of a Fleet.
const FleetLabel = "agones.dev/fleet"

// Fleet is the Agones Fleet one allocator allocates from (a router pool).
type Fleet struct {
	// Name of the Fleet: every selector matches agones.dev/fleet = Name.
	Name string
	// Namespace the Fleet lives in: the GameServerAllocation is created
	// there; the allocator service's request names it.
	Namespace string
	// Counter is the Fleet's Counter of sessions (DefaultCounter when
	// empty): selectors want one free, the allocation adds one.
	Counter string
	// PortName is the GameServer port clients send media to
	// (DefaultPortName when empty): Allocation.Port is its hostPort.
	PortName string
}

func (f Fleet) withDefaults() (Fleet, error) {
	if f.Name == "" || f.Namespace == "" {
		return f, errors.New("agonesalloc: the Fleet's name and namespace are required")
	}
	if f.Counter == "" {
		f.Counter = DefaultCounter
	}
	if f.PortName == "" {
		f.PortName = DefaultPortName
	}
	return f, nil
}

// matchLabels returns the request's labels with the Fleet's added (the
// Fleet's name wins over a request that names another).
func (f Fleet) matchLabels(req router.AllocationRequest) map[string]string {
	m := make(map[string]string, len(req.MatchLabels)+1)
	maps.Copy(m, req.MatchLabels)
	m[FleetLabel] = f.Name
	return m
}

// The request's fixed parts, in both shapes (see doc.go).
const (
	stateAllocated = "Allocated"
	stateReady     = "Ready"
	scheduling     = "Packed"
	priorityType   = "Counter"
	priorityOrder  = "Ascending" // the least free capacity first: the fullest pod with room
	counterAction  = "Increment"
)

// media finds the port named name among an answer's ports.
func media(ports []port, name string) (int, error) {
	for _, p := range ports {
		if p.Name == name {
			if p.Port <= 0 || p.Port > 65535 {
				return 0, fmt.Errorf("agonesalloc: port %q is %d", name, p.Port)
			}
			return int(p.Port), nil
		}
	}
	return 0, fmt.Errorf("agonesalloc: the allocated GameServer has no port named %q", name)
}

// port is one of an answer's ports.
type port struct {
	Name string `json:"name"`
	Port int64  `json:"port"`
}
