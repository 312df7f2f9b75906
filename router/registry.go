package router

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
)

// registry is the router's view of the pods, fed by their reports.
type registry struct {
	staleAfter time.Duration
	token      string
	httpClient *http.Client
	// allocated names the pools with an allocator (Agones): only their
	// pods whose GameServer is Allocated take sessions; Ready ones are
	// Agones' buffer. Set before the first report; read-only after.
	allocated map[string]bool
	// defaultPool is the pool of the pods that name none (Config.Pool).
	defaultPool string

	mu    sync.Mutex // guards the fields below
	pods  map[string]*pod
	heard bool // a report was ever received
	// gone: pods the Agones view took out of placement (gameservers.go).
	gone map[string]goneMark
	// retiring: pods the fleet operations are draining (drains.go): no
	// new session, members still join their sessions until the drain.
	retiring map[string]bool
}

// DefaultPool is the default of Config.Pool: the pool of a pod that
// names none.
const DefaultPool = "default"

// poolOf is the pool a report puts its pod in (the router's default pool
// when it names none).
func (g *registry) poolOf(r *api.PodReport) string {
	if r.Pool == "" {
		return g.defaultPool
	}
	return r.Pool
}

// pod is one pod as its last report shows it.
type pod struct {
	report   api.PodReport  // the last report, Sessions nil (see sessions)
	sessions map[string]int // its sessions' participants
	received time.Time      // when the router received the last report
	// suspended: the pod refused a new session (503) or could not be
	// reached, when the router's latest report of it was suspendSeq. A
	// report built after that (see apply) lifts it.
	suspended  bool
	suspendSeq uint64
	api        *client.API // calls to the pod's admin API
}

func newRegistry(staleAfter time.Duration, token string, hc *http.Client) *registry {
	return &registry{staleAfter: staleAfter, token: token, httpClient: hc, pods: map[string]*pod{}, gone: map[string]goneMark{},
		allocated: map[string]bool{}, retiring: map[string]bool{}}
}

// applied is what a report changed.
type applied struct {
	// ignored: an old or repeated report (seq not above the latest).
	ignored bool
	// restarted: a new instance under the name (or a new pod).
	restarted bool
	// prevSeq is the seq of the report received before this one (0: none).
	prevSeq uint64
	// ended are the sessions the previous report listed and this one not.
	ended []string
}

// apply records a report received at now.
func (g *registry) apply(now time.Time, rep api.PodReport) (applied, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.heard = true
	p := g.pods[rep.Name]
	var a applied
	if p != nil && p.report.Instance == rep.Instance {
		if rep.Seq <= p.report.Seq {
			return applied{ignored: true}, nil
		}
		a.prevSeq = p.report.Seq
	} else {
		a.restarted = true
		var before map[string]int // the sessions of the instance before: gone
		if p != nil {
			before = p.sessions
		}
		p = &pod{sessions: before}
		g.pods[rep.Name] = p
	}
	if p.api == nil || p.report.AdminURL != rep.AdminURL {
		c, err := client.NewAPI(rep.AdminURL, g.token)
		if err != nil {
			if a.restarted {
				delete(g.pods, rep.Name)
			}
			return applied{}, err
		}
		c.HTTPClient = g.httpClient
		p.api = c
	}
	sessions := make(map[string]int, len(rep.Sessions))
	for _, s := range rep.Sessions {
		sessions[s.ID] = s.Participants
	}
	for id := range p.sessions {
		if _, ok := sessions[id]; !ok {
			a.ended = append(a.ended, id)
		}
	}
	rep.Sessions = nil
	p.report, p.sessions, p.received = rep, sessions, now
	// This report was built after the report of seq prevSeq was
	// received (reporter contract), hence after a suspension made while
	// the latest seq was below prevSeq.
	if p.suspended && a.prevSeq > p.suspendSeq {
		p.suspended = false
	}
	return a, nil
}

// suspend stops placing new sessions on the pod until a report built
// after now arrives.
func (g *registry) suspend(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pods[name]
	if p == nil || p.suspended {
		return false
	}
	p.suspended, p.suspendSeq = true, p.report.Seq
	return true
}

// podView is a copy of what an admission needs to know about a pod.
type podView struct {
	name      string
	api       *client.API
	seq       uint64
	media     api.MediaAddr
	hostname  string
	fresh     bool
	draining  bool
	suspended bool
	listed    bool // the last report lists the session asked about
	count     int  // its participants there
}

// view returns the pod name as seen at now, with session's place in its
// last report; ok false for an unknown pod.
func (g *registry) view(now time.Time, name, session string) (podView, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pods[name]
	if p == nil {
		return podView{}, false
	}
	n, listed := p.sessions[session]
	return podView{name: name, api: p.api, seq: p.report.Seq, media: p.report.Media, hostname: p.report.Hostname,
		fresh: now.Sub(p.received) <= g.staleAfter, draining: draining(&p.report) || g.goneWhyLocked(name) != "",
		suspended: p.suspended, listed: listed, count: n}, true
}

// latest returns the instance and seq of the pod's last report, ok false
// for an unknown pod.
func (g *registry) latest(name string) (instance string, seq uint64, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.pods[name]; p != nil {
		return p.report.Instance, p.report.Seq, true
	}
	return "", 0, false
}

// seq returns the latest report seq of the pod (0 if unknown).
func (g *registry) seq(name string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.pods[name]; p != nil {
		return p.report.Seq
	}
	return 0
}

// draining reports whether the pod is on its way out: it must get no
// session, not even a moved one.
func draining(r *api.PodReport) bool {
	switch r.State {
	case api.StateDraining, api.StateDrained:
		return true
	}
	switch r.DrainPhase {
	case api.DrainGrace, api.DrainNotifying, api.DrainDrained:
		return true
	}
	switch strings.ToLower(r.GameServerState) {
	case "shutdown", "unhealthy", "error":
		return true
	}
	return false
}

// why says why p takes no new session now ("" when it does, room aside).
func (g *registry) whyLocked(now time.Time, p *pod) string {
	switch {
	case now.Sub(p.received) > g.staleAfter:
		return "stale"
	case draining(&p.report):
		return "draining"
	case g.retiring[p.report.Name]:
		return "retiring"
	case g.goneWhyLocked(p.report.Name) != "":
		return g.goneWhyLocked(p.report.Name)
	case p.suspended:
		return "suspended"
	case !p.report.Accepting || p.report.State != api.StateAccepting:
		if p.report.State != "" && p.report.State != api.StateAccepting {
			return string(p.report.State)
		}
		return "not accepting"
	case p.report.Limits.MaxSessions <= 0 || p.report.Limits.MaxParticipants <= 0:
		return "no capacity"
	case g.allocated[g.poolOf(&p.report)] && !strings.EqualFold(p.report.GameServerState, "Allocated"):
		return "not allocated"
	}
	return ""
}

// candidates returns the pods of pool (any pool when "") that may take a
// new session at now, but those in exclude, in name order.
func (g *registry) candidates(now time.Time, pool string, exclude ...string) []Candidate {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Candidate, 0, len(g.pods))
	for name, p := range g.pods {
		if pool != "" && g.poolOf(&p.report) != pool || g.whyLocked(now, p) != "" || slices.Contains(exclude, name) {
			continue
		}
		out = append(out, Candidate{Pod: name, Sessions: len(p.sessions), Participants: p.report.Participants,
			MaxSessions: p.report.Limits.MaxSessions, MaxParticipants: p.report.Limits.MaxParticipants})
	}
	slices.SortFunc(out, func(a, b Candidate) int { return strings.Compare(a.Pod, b.Pod) })
	return out
}

// forgotten is a pod the sweep removed, with the sessions it last listed.
type forgotten struct {
	name     string
	sessions []string
}

// sweep forgets the pods silent for longer than forgetAfter at now.
func (g *registry) sweep(now time.Time, forgetAfter time.Duration) []forgotten {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []forgotten
	for name, p := range g.pods {
		if now.Sub(p.received) > forgetAfter {
			f := forgotten{name: name}
			for id := range p.sessions {
				f.sessions = append(f.sessions, id)
			}
			out = append(out, f)
			delete(g.pods, name)
		}
	}
	g.sweepGoneLocked(now, forgetAfter)
	return out
}

// snapshot lists the pods at now, by name, without pending counts.
func (g *registry) snapshot(now time.Time) []api.PodInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]api.PodInfo, 0, len(g.pods))
	for _, p := range g.pods {
		why := g.whyLocked(now, p)
		info := api.PodInfo{PodReport: p.report, Why: why, Placeable: why == "",
			Stale: now.Sub(p.received) > g.staleAfter, Suspended: p.suspended,
			LastReportAgoMS: now.Sub(p.received).Milliseconds(), SessionCount: len(p.sessions)}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b api.PodInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// heardAny reports whether any pod ever reported.
func (g *registry) heardAny() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.heard
}

// setRetiring replaces the set of pods the fleet operations drain.
func (g *registry) setRetiring(pods map[string]bool) {
	g.mu.Lock()
	g.retiring = pods
	g.mu.Unlock()
}

// retire adds one pod to the retiring set at once (the replica that
// chose or was asked to drain it; the others follow at their next
// refresh of the drains).
func (g *registry) retire(pod string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := make(map[string]bool, len(g.retiring)+1)
	for k := range g.retiring {
		m[k] = true
	}
	if on {
		m[pod] = true
	} else {
		delete(m, pod)
	}
	g.retiring = m
}

// poolLoad is one pool's pods as the registry sees them.
type poolLoad struct {
	pods, placeable, sessions, participants int
}

// pools returns the pools the pods report, with their load at now.
func (g *registry) pools(now time.Time) map[string]poolLoad {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]poolLoad{}
	for _, p := range g.pods {
		name := g.poolOf(&p.report)
		l := out[name]
		l.pods++
		if g.whyLocked(now, p) == "" {
			l.placeable++
		}
		if now.Sub(p.received) <= g.staleAfter { // a silent pod's sessions are not counted
			l.sessions += len(p.sessions)
			l.participants += p.report.Participants
		}
		out[name] = l
	}
	return out
}

// podState is what the fleet operations need of one pod.
type podState struct {
	name, pool   string
	api          *client.API
	fresh        bool
	known        bool
	sessions     int
	participants int
	maxSessions  int
	maxParts     int
	cpu          float64
	why          string // why it takes no new session ("" if it does)
	drainPhase   string
	gsState      string
	state        api.State // the pod's admission state, and why
	reason       string
}

// podStates lists every pod at now, by name.
func (g *registry) podStates(now time.Time) []podState {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]podState, 0, len(g.pods))
	for name, p := range g.pods {
		out = append(out, podState{name: name, pool: g.poolOf(&p.report), api: p.api, known: true,
			fresh: now.Sub(p.received) <= g.staleAfter, sessions: len(p.sessions), participants: p.report.Participants,
			maxSessions: p.report.Limits.MaxSessions, maxParts: p.report.Limits.MaxParticipants,
			cpu: p.report.CPUPercent, why: g.whyLocked(now, p), drainPhase: p.report.DrainPhase,
			gsState: p.report.GameServerState, state: p.report.State, reason: p.report.Reason})
	}
	slices.SortFunc(out, func(a, b podState) int { return strings.Compare(a.name, b.name) })
	return out
}

// poolOfPod returns the pool of a known pod (DefaultPool if unknown).
func (g *registry) poolOfPod(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.pods[name]; p != nil {
		return g.poolOf(&p.report)
	}
	return g.defaultPool
}
