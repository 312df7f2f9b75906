package agones

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// GameServer states (Status.State).
const (
	StateScheduled    = "Scheduled"
	StateRequestReady = "RequestReady"
	StateReady        = "Ready"
	StateReserved     = "Reserved"
	StateAllocated    = "Allocated"
	StateShutdown     = "Shutdown"
	StateUnhealthy    = "Unhealthy"
	StateError        = "Error"
)

// SDKPrefix is what the sidecar puts before the key of a label or
// annotation set through the SDK: SetLabel(ctx, "k", v) sets the label
// agones.dev/sdk-k.
const SDKPrefix = "agones.dev/sdk-"

// AnnotationLastAllocated is the GameServer annotation the allocator sets
// on every allocation, a re-allocation of an Allocated GameServer included
// (LastAllocatedAnnotationKey in pkg/gameserverallocations/allocator.go);
// the sidecar sets it too when the pod allocates itself (updateState in
// pkg/sdkserver/sdkserver.go). Its value is the allocation time as
// time.Time.MarshalText writes it: RFC 3339 with nanoseconds, e.g.
// "2026-12-01T23:54:10.082444505Z".
const AnnotationLastAllocated = "agones.dev/last-allocated"

// GameServer is the sidecar's view of this pod's GameServer, as GET
// /gameserver and every line of the watch stream carry it. It marshals to
// and from the sidecar's wire format (snake_case, 64-bit integers as
// strings; numbers are accepted too).
type GameServer struct {
	ObjectMeta ObjectMeta `json:"object_meta"`
	Spec       Spec       `json:"spec"`
	Status     Status     `json:"status"`
}

// ObjectMeta is the Kubernetes metadata of the GameServer.
type ObjectMeta struct {
	Name            string
	Namespace       string
	UID             string
	ResourceVersion string
	Generation      int64
	// CreationTimestamp and DeletionTimestamp are Unix seconds;
	// DeletionTimestamp is 0 unless the GameServer is being deleted.
	CreationTimestamp int64
	DeletionTimestamp int64
	Annotations       map[string]string
	Labels            map[string]string
}

// Spec is the part of the GameServer's spec the SDK exposes.
type Spec struct {
	Health Health `json:"health"`
}

// Health is the health checking the sidecar applies: a ping at least
// every PeriodSeconds, Unhealthy after FailureThreshold missed periods,
// starting InitialDelaySeconds after the start.
type Health struct {
	Disabled            bool  `json:"disabled"`
	PeriodSeconds       int32 `json:"period_seconds"`
	FailureThreshold    int32 `json:"failure_threshold"`
	InitialDelaySeconds int32 `json:"initial_delay_seconds"`
}

// Status is the GameServer's status.
type Status struct {
	// State is one of the State* constants.
	State string
	// Address is the node's address clients reach the pod at.
	Address   string
	Addresses []Address
	// Ports are the host ports clients use, by name.
	Ports    []Port
	Counters map[string]Counter
	Lists    map[string]List
}

// Address is one of the node's addresses (ExternalIP, InternalIP,
// Hostname, ...).
type Address struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// Port is a port of the GameServer: Port is the host port clients reach
// (not the container port).
type Port struct {
	Name string `json:"name"`
	Port int32  `json:"port"`
}

// Counter is a GameServer counter. Name is set by the counter endpoints,
// and filled from the map key in Status.Counters.
type Counter struct {
	Name     string
	Count    int64
	Capacity int64
}

// List is a GameServer list. Name is set by the list endpoints, and
// filled from the map key in Status.Lists.
type List struct {
	Name     string
	Capacity int64
	Values   []string
}

// Deleting reports whether the GameServer is being deleted (its deletion
// timestamp is set): time to drain.
func (g GameServer) Deleting() bool { return g.ObjectMeta.DeletionTimestamp != 0 }

// Port returns the host port named name, false if the GameServer has no
// such port.
func (g GameServer) Port(name string) (int, bool) {
	for _, p := range g.Status.Ports {
		if p.Name == name {
			return int(p.Port), true
		}
	}
	return 0, false
}

// jsonInt64 is a 64-bit integer as protobuf's JSON mapping writes it: a
// string ("5"). It reads a string or a number, and null as 0.
type jsonInt64 int64

// MarshalJSON implements json.Marshaler.
func (n jsonInt64) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(n), 10)), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *jsonInt64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*n = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("agones: 64-bit integer %s: %w", b, err)
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("agones: 64-bit integer %s: %w", b, err)
	}
	*n = jsonInt64(v)
	return nil
}

type wireObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	UID               string            `json:"uid"`
	ResourceVersion   string            `json:"resource_version"`
	Generation        jsonInt64         `json:"generation"`
	CreationTimestamp jsonInt64         `json:"creation_timestamp"`
	DeletionTimestamp jsonInt64         `json:"deletion_timestamp"`
	Annotations       map[string]string `json:"annotations"`
	Labels            map[string]string `json:"labels"`
}

// MarshalJSON implements json.Marshaler with the sidecar's wire format.
func (m ObjectMeta) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: jsonInt64(m.Generation), CreationTimestamp: jsonInt64(m.CreationTimestamp),
		DeletionTimestamp: jsonInt64(m.DeletionTimestamp),
		Annotations:       nonNilMap(m.Annotations), Labels: nonNilMap(m.Labels),
	})
}

// UnmarshalJSON implements json.Unmarshaler with the sidecar's wire format.
func (m *ObjectMeta) UnmarshalJSON(b []byte) error {
	var w wireObjectMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = ObjectMeta{
		Name: w.Name, Namespace: w.Namespace, UID: w.UID, ResourceVersion: w.ResourceVersion,
		Generation: int64(w.Generation), CreationTimestamp: int64(w.CreationTimestamp),
		DeletionTimestamp: int64(w.DeletionTimestamp), Annotations: w.Annotations, Labels: w.Labels,
	}
	return nil
}

type wireCounterStatus struct {
	Count    jsonInt64 `json:"count"`
	Capacity jsonInt64 `json:"capacity"`
}

type wireListStatus struct {
	Capacity jsonInt64 `json:"capacity"`
	Values   []string  `json:"values"`
}

type wireStatus struct {
	State     string                       `json:"state"`
	Address   string                       `json:"address"`
	Addresses []Address                    `json:"addresses"`
	Ports     []Port                       `json:"ports"`
	Counters  map[string]wireCounterStatus `json:"counters"`
	Lists     map[string]wireListStatus    `json:"lists"`
}

// MarshalJSON implements json.Marshaler with the sidecar's wire format.
func (s Status) MarshalJSON() ([]byte, error) {
	w := wireStatus{
		State: s.State, Address: s.Address,
		Addresses: nonNilSlice(s.Addresses), Ports: nonNilSlice(s.Ports),
		Counters: make(map[string]wireCounterStatus, len(s.Counters)),
		Lists:    make(map[string]wireListStatus, len(s.Lists)),
	}
	for k, c := range s.Counters {
		w.Counters[k] = wireCounterStatus{Count: jsonInt64(c.Count), Capacity: jsonInt64(c.Capacity)}
	}
	for k, l := range s.Lists {
		w.Lists[k] = wireListStatus{Capacity: jsonInt64(l.Capacity), Values: nonNilSlice(l.Values)}
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler with the sidecar's wire format.
func (s *Status) UnmarshalJSON(b []byte) error {
	var w wireStatus
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Status{State: w.State, Address: w.Address, Addresses: w.Addresses, Ports: w.Ports}
	if w.Counters != nil {
		s.Counters = make(map[string]Counter, len(w.Counters))
		for k, c := range w.Counters {
			s.Counters[k] = Counter{Name: k, Count: int64(c.Count), Capacity: int64(c.Capacity)}
		}
	}
	if w.Lists != nil {
		s.Lists = make(map[string]List, len(w.Lists))
		for k, l := range w.Lists {
			s.Lists[k] = List{Name: k, Capacity: int64(l.Capacity), Values: l.Values}
		}
	}
	return nil
}

type wireCounter struct {
	Name     string    `json:"name"`
	Count    jsonInt64 `json:"count"`
	Capacity jsonInt64 `json:"capacity"`
}

// MarshalJSON implements json.Marshaler with the wire format of the
// counter endpoints: {"name":"sessions","count":"1","capacity":"10"}.
func (c Counter) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireCounter{Name: c.Name, Count: jsonInt64(c.Count), Capacity: jsonInt64(c.Capacity)})
}

// UnmarshalJSON implements json.Unmarshaler with the wire format of the
// counter endpoints.
func (c *Counter) UnmarshalJSON(b []byte) error {
	var w wireCounter
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Counter{Name: w.Name, Count: int64(w.Count), Capacity: int64(w.Capacity)}
	return nil
}

type wireList struct {
	Name     string    `json:"name"`
	Capacity jsonInt64 `json:"capacity"`
	Values   []string  `json:"values"`
}

// MarshalJSON implements json.Marshaler with the wire format of the list
// endpoints: {"name":"players","capacity":"10","values":["a"]}.
func (l List) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireList{Name: l.Name, Capacity: jsonInt64(l.Capacity), Values: nonNilSlice(l.Values)})
}

// UnmarshalJSON implements json.Unmarshaler with the wire format of the
// list endpoints.
func (l *List) UnmarshalJSON(b []byte) error {
	var w wireList
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*l = List{Name: w.Name, Capacity: int64(w.Capacity), Values: w.Values}
	return nil
}

// Clone returns a deep copy of g (maps and slices are not shared).
func (g GameServer) Clone() GameServer {
	c := g
	c.ObjectMeta.Annotations = maps.Clone(g.ObjectMeta.Annotations)
	c.ObjectMeta.Labels = maps.Clone(g.ObjectMeta.Labels)
	c.Status.Addresses = slices.Clone(g.Status.Addresses)
	c.Status.Ports = slices.Clone(g.Status.Ports)
	c.Status.Counters = maps.Clone(g.Status.Counters)
	if g.Status.Lists != nil {
		c.Status.Lists = make(map[string]List, len(g.Status.Lists))
		for k, v := range g.Status.Lists {
			v.Values = slices.Clone(v.Values)
			c.Status.Lists[k] = v
		}
	}
	return c
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
