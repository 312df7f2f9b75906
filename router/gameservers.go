package router

import (
	"strings"
	"time"
)

// ObserveGameServer takes the Agones view of one GameServer (the watch in
// router/agonesalloc): one being deleted, deleted, or in a final state
// (Shutdown, Unhealthy, Error) leaves placement at once, before its pod's
// reports say so, and stays out until the pod is forgotten (after
// ForgetAfter without a report). Its sessions move with their next
// re-admission, as from a draining pod. Any other state changes nothing:
// the pods' reports say which pods have room. Safe for concurrent use.
func (r *Router) ObserveGameServer(ev GameServerEvent) {
	why := gameServerGone(ev)
	if ev.Name == "" || why == "" {
		return
	}
	if r.reg.markGone(r.cfg.Now(), ev.Name, why) {
		r.stats.gameServerExits.Add(1)
		r.log.Info("router: GameServer leaves placement", "pod", ev.Name, "why", why)
	}
}

// gameServerGone says why a GameServer may take no session ("" if it may).
func gameServerGone(ev GameServerEvent) string {
	switch {
	case ev.Deleted:
		return "gameserver deleted"
	case ev.Deleting:
		return "gameserver deleting"
	}
	switch s := strings.ToLower(ev.State); s {
	case "shutdown", "unhealthy", "error":
		return "gameserver " + s
	}
	return ""
}

// goneMark is a GameServer the Agones view took out of placement.
type goneMark struct {
	why   string
	since time.Time
}

// markGone takes the pod name out of placement; false if it already was.
func (g *registry) markGone(now time.Time, name, why string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.gone[name]; ok {
		return false
	}
	g.gone[name] = goneMark{why: why, since: now}
	return true
}

// goneWhyLocked says why the Agones view took name out ("" if it did not).
func (g *registry) goneWhyLocked(name string) string {
	return g.gone[name].why
}

// sweepGoneLocked drops the marks of pods no longer known that were marked
// longer than forgetAfter ago (a GameServer deleted before its pod ever
// reported, or whose pod was forgotten).
func (g *registry) sweepGoneLocked(now time.Time, forgetAfter time.Duration) {
	for name, m := range g.gone {
		if _, known := g.pods[name]; !known && now.Sub(m.since) > forgetAfter {
			delete(g.gone, name)
		}
	}
}
