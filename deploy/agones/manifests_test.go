// Package manifests checks the Agones manifests in deploy/agones: the fields
// that findings on a real Agones 1.56 control plane made necessary, and the
// values that must agree across files (docs/agones.md explains each).
//
// go.mod has no YAML library and this test adds none: flatten reads the
// block-style subset of YAML these files use (maps, lists, scalars, comments)
// into "path = value" pairs; allocator-request.json is JSON and decoded
// strictly with encoding/json.
package manifests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// flatten turns block YAML into paths such as
// "spec.template.spec.ports[0].name" mapped to their scalar values. A key
// with nested content maps to "". It fails on what it does not understand
// (tabs, multi-line scalars, several documents) rather than guessing.
func flatten(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	type frame struct {
		indent int
		path   string
		next   int // next list index under this key
	}
	out := map[string]string{}
	stack := []*frame{{indent: -1}}
	child := func(parent, key string) string {
		if parent == "" {
			return key
		}
		return parent + "." + key
	}
	// keyValue handles "key: value" or "key:" at indent.
	keyValue := func(lineNo, indent int, s string) {
		for len(stack) > 1 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok || (v != "" && v[0] != ' ') {
			t.Fatalf("%s:%d: not a key: value line: %q", name, lineNo, s)
		}
		path := child(stack[len(stack)-1].path, strings.TrimSpace(k))
		v = unquote(strings.TrimSpace(v))
		if strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
			t.Fatalf("%s:%d: multi-line scalars are not supported", name, lineNo)
		}
		if _, dup := out[path]; dup {
			t.Fatalf("%s:%d: %s appears twice", name, lineNo, path)
		}
		out[path] = v
		if v == "" {
			stack = append(stack, &frame{indent: indent, path: path})
		}
	}
	for i, line := range strings.Split(string(b), "\n") {
		lineNo := i + 1
		if strings.Contains(line, "\t") {
			t.Fatalf("%s:%d: tab in YAML", name, lineNo)
		}
		if j := commentStart(line); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimRight(line, " ")
		s := strings.TrimLeft(line, " ")
		if s == "" {
			continue
		}
		if s == "---" {
			t.Fatalf("%s:%d: one document per file", name, lineNo)
		}
		indent := len(line) - len(s)
		if rest, ok := strings.CutPrefix(s, "- "); ok || s == "-" {
			for len(stack) > 1 && stack[len(stack)-1].indent >= indent {
				stack = stack[:len(stack)-1]
			}
			list := stack[len(stack)-1]
			item := fmt.Sprintf("%s[%d]", list.path, list.next)
			list.next++
			stack = append(stack, &frame{indent: indent, path: item})
			if !strings.Contains(rest, ": ") && !strings.HasSuffix(rest, ":") {
				out[item] = unquote(rest) // a scalar item
				continue
			}
			keyValue(lineNo, indent+2, rest)
			continue
		}
		keyValue(lineNo, indent, s)
	}
	return out
}

// commentStart is the index of a comment's "#" (at the start of the line or
// after a space, outside quotes), or -1.
func commentStart(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return i
		}
	}
	return -1
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

// want checks path = value in a flattened file.
func want(t *testing.T, file string, m map[string]string, path, value string) {
	t.Helper()
	got, ok := m[path]
	switch {
	case !ok:
		t.Errorf("%s: %s missing (want %q)", file, path, value)
	case got != value:
		t.Errorf("%s: %s = %q, want %q", file, path, got, value)
	}
}

// env is the voxd container's environment in the Fleet.
func env(t *testing.T, fleet map[string]string) map[string]string {
	t.Helper()
	const c = "spec.template.spec.template.spec.containers[0]"
	if fleet[c+".name"] != "voxd" {
		t.Fatalf("fleet.yaml: the first container is %q, want voxd", fleet[c+".name"])
	}
	e := map[string]string{}
	for i := 0; ; i++ {
		n, ok := fleet[fmt.Sprintf("%s.env[%d].name", c, i)]
		if !ok {
			return e
		}
		e[n] = fleet[fmt.Sprintf("%s.env[%d].value", c, i)]
	}
}

func atoi(t *testing.T, what, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %q is not a number", what, s)
	}
	return n
}

func TestFlatten(t *testing.T) {
	dir := t.TempDir()
	name := dir + "/x.yaml"
	src := "# c\na:\n  b: \"1\" # note\n  l:\n    - x: 1\n      y: 'two'\n    - z\n  m: [\"a#b\"]\n"
	if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := flatten(t, name)
	for k, v := range map[string]string{"a": "", "a.b": "1", "a.l": "", "a.l[0].x": "1", "a.l[0].y": "two",
		"a.l[1]": "z", "a.m": `["a#b"]`} {
		want(t, "x.yaml", got, k, v)
	}
	if len(got) != 7 {
		t.Errorf("flatten = %v, want 7 entries", got)
	}
}

func TestFleet(t *testing.T) {
	f := flatten(t, "fleet.yaml")
	want(t, "fleet.yaml", f, "apiVersion", "agones.dev/v1")
	want(t, "fleet.yaml", f, "kind", "Fleet")
	// Finding 1: without Fleet priorities the Counter FleetAutoscaler's
	// scale-down simulation may "remove" a full Allocated pod first and flap.
	want(t, "fleet.yaml", f, "spec.priorities[0].type", "Counter")
	want(t, "fleet.yaml", f, "spec.priorities[0].key", "sessions")
	want(t, "fleet.yaml", f, "spec.priorities[0].order", "Descending")
	// Finding 3: Never puts the pods under Agones' maxUnavailable 0% PDB.
	want(t, "fleet.yaml", f, "spec.template.spec.eviction.safe", "OnUpgrade")

	e := env(t, f)
	capacity := f["spec.template.spec.counters.sessions.capacity"]
	want(t, "fleet.yaml", f, "spec.template.spec.counters.sessions.count", "0")
	if e["VOX_MAX_SESSIONS"] != capacity || capacity == "" {
		t.Errorf("fleet.yaml: VOX_MAX_SESSIONS %q != counters.sessions.capacity %q", e["VOX_MAX_SESSIONS"], capacity)
	}
	want(t, "fleet.yaml", f, "spec.template.spec.ports[0].name", e["VOX_AGONES_PORT_NAME"])
	want(t, "fleet.yaml", f, "spec.template.spec.ports[0].protocol", "UDP")
	want(t, "fleet.yaml", f, "spec.template.spec.container", "voxd")
	want(t, "fleet.yaml", f, "spec.template.spec.health.disabled", "false")
	if e["VOX_AGONES"] != "on" {
		t.Errorf("fleet.yaml: VOX_AGONES = %q, want on", e["VOX_AGONES"])
	}

	grace := time.Duration(atoi(t, "terminationGracePeriodSeconds",
		f["spec.template.spec.template.spec.terminationGracePeriodSeconds"])) * time.Second
	deadline, err := time.ParseDuration(e["VOX_DRAIN_DEADLINE"])
	if err != nil {
		t.Fatalf("fleet.yaml: VOX_DRAIN_DEADLINE: %v", err)
	}
	if deadline+time.Minute > grace {
		t.Errorf("fleet.yaml: VOX_DRAIN_DEADLINE %v must be at least a minute below terminationGracePeriodSeconds (%v)", deadline, grace)
	}
	if d, err := time.ParseDuration(e["VOX_EMPTY_RETURN"]); err != nil || d < 0 {
		t.Errorf("fleet.yaml: VOX_EMPTY_RETURN = %q, want a duration >= 0", e["VOX_EMPTY_RETURN"])
	}
	if a := e["VOX_EMPTY_ACTION"]; a != "ready" && a != "shutdown" {
		t.Errorf("fleet.yaml: VOX_EMPTY_ACTION = %q, want ready or shutdown", a)
	}
	// Agones derives the liveness probe from health; Pod readiness is unused.
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if _, ok := f["spec.template.spec.template.spec.containers[0]."+probe]; ok {
			t.Errorf("fleet.yaml: voxd must not have a %s (docs/agones.md, Health)", probe)
		}
	}
	// The CPU limit sets GOMAXPROCS and so the shard count (docs/agones.md).
	const res = "spec.template.spec.template.spec.containers[0].resources."
	if f[res+"requests.cpu"] != f[res+"limits.cpu"] || f[res+"limits.cpu"] == "" {
		t.Errorf("fleet.yaml: CPU requests %q != limits %q", f[res+"requests.cpu"], f[res+"limits.cpu"])
	}
}

func TestFleetAutoscaler(t *testing.T) {
	f := flatten(t, "fleet.yaml")
	a := flatten(t, "fleetautoscaler.yaml")
	want(t, "fleetautoscaler.yaml", a, "kind", "FleetAutoscaler")
	want(t, "fleetautoscaler.yaml", a, "spec.fleetName", f["metadata.name"])
	want(t, "fleetautoscaler.yaml", a, "spec.policy.type", "Counter")
	want(t, "fleetautoscaler.yaml", a, "spec.policy.counter.key", f["spec.priorities[0].key"])
	capacity := atoi(t, "capacity", f["spec.template.spec.counters.sessions.capacity"])
	buffer := atoi(t, "bufferSize", a["spec.policy.counter.bufferSize"])
	minC := atoi(t, "minCapacity", a["spec.policy.counter.minCapacity"])
	maxC := atoi(t, "maxCapacity", a["spec.policy.counter.maxCapacity"])
	if minC%capacity != 0 || maxC%capacity != 0 || buffer > minC || minC > maxC {
		t.Errorf("fleetautoscaler.yaml: minCapacity %d and maxCapacity %d must be multiples of %d, bufferSize %d <= minCapacity <= maxCapacity",
			minC, maxC, capacity, buffer)
	}
}

func TestAllocation(t *testing.T) {
	g := flatten(t, "allocation.yaml")
	want(t, "allocation.yaml", g, "apiVersion", "allocation.agones.dev/v1")
	want(t, "allocation.yaml", g, "kind", "GameServerAllocation")
	for i, state := range []string{"Allocated", "Ready"} {
		s := fmt.Sprintf("spec.selectors[%d].", i)
		want(t, "allocation.yaml", g, s+"gameServerState", state)
		want(t, "allocation.yaml", g, s+"matchLabels.agones.dev/fleet", "vox")
		want(t, "allocation.yaml", g, s+"matchExpressions[0].key", "agones.dev/sdk-vox-accepting")
		want(t, "allocation.yaml", g, s+"matchExpressions[0].operator", "NotIn")
		want(t, "allocation.yaml", g, s+"matchExpressions[0].values", `["false"]`)
		want(t, "allocation.yaml", g, s+"counters.sessions.minAvailable", "1")
	}
	if _, ok := g["spec.selectors[2]"]; ok {
		t.Error("allocation.yaml: want exactly two selectors")
	}
	want(t, "allocation.yaml", g, "spec.scheduling", "Packed")
	want(t, "allocation.yaml", g, "spec.priorities[0].type", "Counter")
	want(t, "allocation.yaml", g, "spec.priorities[0].key", "sessions")
	want(t, "allocation.yaml", g, "spec.priorities[0].order", "Ascending")
	want(t, "allocation.yaml", g, "spec.counters.sessions.action", "Increment")
	want(t, "allocation.yaml", g, "spec.counters.sessions.amount", "1")
	if _, ok := g["metadata.name"]; ok {
		t.Error("allocation.yaml: a GameServerAllocation is created, never named")
	}
}

// The agones-allocator service's request (Agones proto/allocation/
// allocation.proto, JSON names as grpc-gateway reads them). Every field it
// may hold is here: DisallowUnknownFields catches what the service would
// drop silently, matchExpressions above all.
type allocatorRequest struct {
	Namespace           string `json:"namespace"`
	GameServerSelectors []struct {
		MatchLabels     map[string]string `json:"matchLabels"`
		GameServerState string            `json:"gameServerState"`
		Counters        map[string]struct {
			MinAvailable string `json:"minAvailable"` // int64: a JSON string
		} `json:"counters"`
	} `json:"gameServerSelectors"`
	Scheduling string `json:"scheduling"`
	Priorities []struct {
		Type  string `json:"type"`
		Key   string `json:"key"`
		Order string `json:"order"`
	} `json:"priorities"`
	Counters map[string]struct {
		Action string `json:"action"`
		Amount string `json:"amount"` // Int64Value: a JSON string
	} `json:"counters"`
}

func TestAllocatorRequest(t *testing.T) {
	b, err := os.ReadFile("allocator-request.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r allocatorRequest
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("allocator-request.json: %v", err)
	}
	if r.Namespace == "" {
		t.Error("allocator-request.json: namespace is required by the allocator service")
	}
	states := []string{"ALLOCATED", "READY"}
	if len(r.GameServerSelectors) != len(states) {
		t.Fatalf("allocator-request.json: %d selectors, want %d", len(r.GameServerSelectors), len(states))
	}
	for i, s := range r.GameServerSelectors {
		if s.GameServerState != states[i] {
			t.Errorf("selector %d: gameServerState %q, want %q", i, s.GameServerState, states[i])
		}
		// matchLabels only: "true", not NotIn ["false"] (unsupported there).
		wantLabels := map[string]string{"agones.dev/fleet": "vox", "agones.dev/sdk-vox-accepting": "true"}
		if fmt.Sprint(s.MatchLabels) != fmt.Sprint(wantLabels) {
			t.Errorf("selector %d: matchLabels %v, want %v", i, s.MatchLabels, wantLabels)
		}
		if c, ok := s.Counters["sessions"]; !ok || c.MinAvailable != "1" || len(s.Counters) != 1 {
			t.Errorf("selector %d: counters %v, want sessions minAvailable \"1\"", i, s.Counters)
		}
	}
	if r.Scheduling != "Packed" {
		t.Errorf("scheduling %q, want Packed", r.Scheduling)
	}
	if len(r.Priorities) != 1 || r.Priorities[0].Type != "Counter" || r.Priorities[0].Key != "sessions" ||
		r.Priorities[0].Order != "Ascending" {
		t.Errorf("priorities %+v, want [{Counter sessions Ascending}]", r.Priorities)
	}
	if c, ok := r.Counters["sessions"]; !ok || c.Action != "Increment" || c.Amount != "1" || len(r.Counters) != 1 {
		t.Errorf("counters %+v, want sessions Increment \"1\"", r.Counters)
	}
}

func TestLocalGameServer(t *testing.T) {
	f := flatten(t, "fleet.yaml")
	g := flatten(t, "local-gameserver.yaml")
	want(t, "local-gameserver.yaml", g, "kind", "GameServer")
	// The local SDK server reads the Counter, address and ports from status.
	capacity := f["spec.template.spec.counters.sessions.capacity"]
	for _, p := range []string{"spec", "status"} {
		want(t, "local-gameserver.yaml", g, p+".counters.sessions.capacity", capacity)
		want(t, "local-gameserver.yaml", g, p+".counters.sessions.count", "0")
	}
	want(t, "local-gameserver.yaml", g, "spec.ports[0].name", f["spec.template.spec.ports[0].name"])
	want(t, "local-gameserver.yaml", g, "status.ports[0].name", f["spec.template.spec.ports[0].name"])
	if g["status.address"] == "" || g["status.ports[0].port"] == "" {
		t.Error("local-gameserver.yaml: status.address and status.ports[0].port are what voxd waits for before Ready")
	}
}

func TestKustomization(t *testing.T) {
	k := flatten(t, "kustomization.yaml")
	var got []string
	for i := 0; ; i++ {
		r, ok := k[fmt.Sprintf("resources[%d]", i)]
		if !ok {
			break
		}
		got = append(got, r)
	}
	if strings.Join(got, " ") != "fleet.yaml fleetautoscaler.yaml router.yaml" {
		t.Errorf("kustomization.yaml resources = %v, want the Fleet, the FleetAutoscaler and the router only (requests and examples are not applied)", got)
	}
}

// items indexes router.yaml's List items by kind: kind -> "items[i]".
func items(t *testing.T, m map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; ; i++ {
		p := fmt.Sprintf("items[%d]", i)
		kind, ok := m[p+".kind"]
		if !ok {
			return out
		}
		if _, dup := out[kind]; dup {
			t.Fatalf("router.yaml: two %s", kind)
		}
		out[kind] = p
	}
}

// containerEnv is a container's environment (name -> value) at path.
func containerEnv(m map[string]string, c string) map[string]string {
	e := map[string]string{}
	for i := 0; ; i++ {
		n, ok := m[fmt.Sprintf("%s.env[%d].name", c, i)]
		if !ok {
			return e
		}
		e[n] = m[fmt.Sprintf("%s.env[%d].value", c, i)]
	}
}

// TestRouter: router.yaml's RBAC is exactly what voxrouter uses, two
// replicas, names that agree, and the Fleet's voxd pointed at it.
func TestRouter(t *testing.T) {
	r := flatten(t, "router.yaml")
	f := flatten(t, "fleet.yaml")
	want(t, "router.yaml", r, "apiVersion", "v1")
	want(t, "router.yaml", r, "kind", "List")
	it := items(t, r)
	for _, k := range []string{"ServiceAccount", "Role", "RoleBinding", "Service", "PodDisruptionBudget", "Deployment"} {
		if it[k] == "" {
			t.Fatalf("router.yaml: no %s", k)
		}
	}
	if len(it) != 6 {
		t.Errorf("router.yaml: items %v, want these 6 (no ClusterRole: the rights are the namespace's)", it)
	}
	sa := r[it["ServiceAccount"]+".metadata.name"]

	// RBAC: exactly create gameserverallocations, get/list/watch gameservers.
	role := it["Role"]
	want(t, "router.yaml", r, role+".rules[0].apiGroups", `["allocation.agones.dev"]`)
	want(t, "router.yaml", r, role+".rules[0].resources", `["gameserverallocations"]`)
	want(t, "router.yaml", r, role+".rules[0].verbs", `["create"]`)
	want(t, "router.yaml", r, role+".rules[1].apiGroups", `["agones.dev"]`)
	want(t, "router.yaml", r, role+".rules[1].resources", `["gameservers"]`)
	want(t, "router.yaml", r, role+".rules[1].verbs", `["get", "list", "watch"]`)
	if _, ok := r[role+".rules[2]"]; ok {
		t.Error("router.yaml: the Role has more than two rules")
	}
	rb := it["RoleBinding"]
	want(t, "router.yaml", r, rb+".roleRef.kind", "Role")
	want(t, "router.yaml", r, rb+".roleRef.name", r[role+".metadata.name"])
	want(t, "router.yaml", r, rb+".subjects[0].kind", "ServiceAccount")
	want(t, "router.yaml", r, rb+".subjects[0].name", sa)

	// The Deployment.
	d := it["Deployment"]
	want(t, "router.yaml", r, d+".spec.replicas", "2")
	want(t, "router.yaml", r, d+".spec.template.spec.serviceAccountName", sa)
	c := d + ".spec.template.spec.containers[0]"
	want(t, "router.yaml", r, c+".command", `["/voxrouter"]`)
	e := containerEnv(r, c)
	if e["VOX_ALLOCATOR"] != "kubernetes" {
		t.Errorf("router.yaml: VOX_ALLOCATOR = %q, want kubernetes", e["VOX_ALLOCATOR"])
	}
	if e["VOX_FLEET"] != f["metadata.name"] {
		t.Errorf("router.yaml: VOX_FLEET = %q, want the Fleet %q", e["VOX_FLEET"], f["metadata.name"])
	}
	if e["VOX_REDIS"] == "" {
		t.Error("router.yaml: two replicas need the shared Redis (VOX_REDIS)")
	}
	for _, k := range []string{"VOX_TOKEN_FILE", "VOX_REPORT_TOKEN_FILE", "VOX_POD_TOKEN_FILE"} {
		if e[k] == "" {
			t.Errorf("router.yaml: %s unset: beyond loopback the router needs its tokens", k)
		}
	}
	port := r[c+".ports[0].containerPort"]
	svc := it["Service"]
	want(t, "router.yaml", r, svc+".spec.ports[0].targetPort", r[c+".ports[0].name"])
	if !strings.HasSuffix(e["VOX_ADDR"], ":"+port) {
		t.Errorf("router.yaml: VOX_ADDR %q does not listen on containerPort %s", e["VOX_ADDR"], port)
	}

	// The Fleet's voxd reports to the Service, with the report token and
	// the same pool.
	v := env(t, f)
	wantURL := fmt.Sprintf("http://%s:%s", r[svc+".metadata.name"], r[svc+".spec.ports[0].port"])
	if v["VOX_ROUTER"] != wantURL {
		t.Errorf("fleet.yaml: VOX_ROUTER = %q, want %q", v["VOX_ROUTER"], wantURL)
	}
	if v["VOX_POOL"] != e["VOX_POOL"] || v["VOX_POOL"] == "" {
		t.Errorf("fleet.yaml: VOX_POOL %q != router.yaml's %q", v["VOX_POOL"], e["VOX_POOL"])
	}
	if !strings.HasSuffix(v["VOX_ROUTER_TOKEN_FILE"], "/report-token") || !strings.HasSuffix(e["VOX_REPORT_TOKEN_FILE"], "/report-token") {
		t.Errorf("the report token: voxd reads %q, the router %q", v["VOX_ROUTER_TOKEN_FILE"], e["VOX_REPORT_TOKEN_FILE"])
	}
	if !strings.HasPrefix(v["VOX_ADMIN_URL"], "http://$(POD_IP):") || !strings.HasSuffix(v["VOX_ADMIN_URL"], v["VOX_ADMIN_ADDR"]) {
		t.Errorf("fleet.yaml: VOX_ADMIN_URL = %q, want the pod IP and VOX_ADMIN_ADDR's port %q", v["VOX_ADMIN_URL"], v["VOX_ADMIN_ADDR"])
	}
}
