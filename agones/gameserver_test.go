package agones

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// contractGameServer is the example of agones-rest.md, verbatim.
const contractGameServer = `{"object_meta":{"name":"voice-abc","namespace":"default","uid":"...","resource_version":"...",
  "generation":"3","creation_timestamp":"1795342400","deletion_timestamp":"0",
  "annotations":{"agones.dev/sdk-note":"..."},
  "labels":{"agones.dev/fleet":"voice","agones.dev/sdk-sessions":"12"}},
 "spec":{"health":{"disabled":false,"period_seconds":5,"failure_threshold":3,"initial_delay_seconds":5}},
 "status":{"state":"Ready","address":"203.0.113.7","addresses":[{"type":"ExternalIP","address":"203.0.113.7"}],
  "ports":[{"name":"media","port":7654}],
  "counters":{"sessions":{"count":"1","capacity":"40"}},
  "lists":{}}}`

func contractWant() GameServer {
	return GameServer{
		ObjectMeta: ObjectMeta{
			Name: "voice-abc", Namespace: "default", UID: "...", ResourceVersion: "...",
			Generation: 3, CreationTimestamp: 1795342400,
			Annotations: map[string]string{"agones.dev/sdk-note": "..."},
			Labels:      map[string]string{"agones.dev/fleet": "voice", "agones.dev/sdk-sessions": "12"},
		},
		Spec: Spec{Health: Health{PeriodSeconds: 5, FailureThreshold: 3, InitialDelaySeconds: 5}},
		Status: Status{
			State: StateReady, Address: "203.0.113.7",
			Addresses: []Address{{Type: "ExternalIP", Address: "203.0.113.7"}},
			Ports:     []Port{{Name: "media", Port: 7654}},
			Counters:  map[string]Counter{"sessions": {Name: "sessions", Count: 1, Capacity: 40}},
			Lists:     map[string]List{},
		},
	}
}

func TestGameServerDecodeContract(t *testing.T) {
	var gs GameServer
	if err := json.Unmarshal([]byte(contractGameServer), &gs); err != nil {
		t.Fatal(err)
	}
	if want := contractWant(); !reflect.DeepEqual(gs, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", gs, want)
	}
	if gs.Deleting() {
		t.Error(`Deleting() with deletion_timestamp "0"`)
	}
	if p, ok := gs.Port("media"); !ok || p != 7654 {
		t.Errorf("Port(media) = %d, %v", p, ok)
	}
	if _, ok := gs.Port("nope"); ok {
		t.Error("Port(nope) found")
	}
}

func TestGameServerDecodeNumbers(t *testing.T) {
	// int64s as plain numbers, as some encoders write them.
	in := strings.NewReplacer(`"generation":"3"`, `"generation":3`,
		`"deletion_timestamp":"0"`, `"deletion_timestamp":1795342999`,
		`"count":"1"`, `"count":1`).Replace(contractGameServer)
	var gs GameServer
	if err := json.Unmarshal([]byte(in), &gs); err != nil {
		t.Fatal(err)
	}
	if gs.ObjectMeta.Generation != 3 || gs.Status.Counters["sessions"].Count != 1 || !gs.Deleting() {
		t.Fatalf("decoded %+v", gs)
	}
}

func TestGameServerEncodeWireFormat(t *testing.T) {
	b, err := json.Marshal(contractWant())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"generation":"3"`, `"creation_timestamp":"1795342400"`, `"deletion_timestamp":"0"`,
		`"resource_version":"..."`, `"period_seconds":5`, `"disabled":false`,
		`"ports":[{"name":"media","port":7654}]`,
		`"counters":{"sessions":{"count":"1","capacity":"40"}}`, `"lists":{}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoded %s\nlacks %s", b, want)
		}
	}
	// Zero values are present: nil maps and slices as {} and [].
	b, err = json.Marshal(GameServer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"annotations":{}`, `"labels":{}`, `"addresses":[]`, `"ports":[]`,
		`"counters":{}`, `"lists":{}`, `"state":""`, `"generation":"0"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoded zero %s\nlacks %s", b, want)
		}
	}
	var back GameServer
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
}

func TestCounterAndListWire(t *testing.T) {
	b, _ := json.Marshal(Counter{Name: "sessions", Count: 1, Capacity: 10})
	if got, want := string(b), `{"name":"sessions","count":"1","capacity":"10"}`; got != want {
		t.Errorf("counter = %s, want %s", got, want)
	}
	b, _ = json.Marshal(List{Name: "players", Capacity: 2})
	if got, want := string(b), `{"name":"players","capacity":"2","values":[]}`; got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{`"42"`, 42, false}, {`42`, 42, false}, {`"-1"`, -1, false}, {`null`, 0, false},
		{`"9223372036854775807"`, 1<<63 - 1, false},
		{`"x"`, 0, true}, {`1.5`, 0, true}, {`""`, 0, true}, {`true`, 0, true},
	}
	for _, tt := range tests {
		var n jsonInt64
		err := json.Unmarshal([]byte(tt.in), &n)
		if (err != nil) != tt.wantErr || (!tt.wantErr && int64(n) != tt.want) {
			t.Errorf("jsonInt64 %s = %d, %v", tt.in, n, err)
		}
	}
}

func TestGameServerClone(t *testing.T) {
	g := contractWant()
	g.Status.Lists = map[string]List{"p": {Values: []string{"a"}}}
	c := g.Clone()
	c.ObjectMeta.Labels["x"] = "y"
	c.Status.Ports[0].Port = 1
	c.Status.Lists["p"].Values[0] = "b"
	if _, ok := g.ObjectMeta.Labels["x"]; ok || g.Status.Ports[0].Port != 7654 || g.Status.Lists["p"].Values[0] != "a" {
		t.Fatal("Clone shares state with the original")
	}
}

func TestErrorIs(t *testing.T) {
	tests := []struct {
		msg  string
		want error
	}{
		{"not found. sessions Counter not found", ErrNotFound},
		{"counter not found: sessions", ErrNotFound},
		{"list not found: players", ErrNotFound},
		{"not found: value a not in list players", ErrNotFound},
		{"not found. Value: a not found in List: players", ErrNotFound},
		{"out of range. Count must be within range [0,Capacity]", ErrOutOfRange},
		{"already exists. Value: a already in List: p", ErrAlreadyExists},
		{"Not Found", nil},
		{"counter not found.", nil},
		{"", nil},
	}
	all := []error{ErrNotFound, ErrOutOfRange, ErrAlreadyExists, ErrUnavailable}
	for _, tt := range tests {
		err := error(&Error{HTTPStatus: 500, Code: 2, Message: tt.msg})
		for _, s := range all {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("errors.Is(%q, %v) = %v", tt.msg, s, got)
			}
		}
	}
	e := &Error{HTTPStatus: 500, Code: 2, Message: "not found. x"}
	if got, want := e.Error(), "sidecar answered 500 (code 2): not found. x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
