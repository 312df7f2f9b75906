package admin

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/voxfleet/vox/sessionmgr"
)

// serveMetrics writes the Prometheus text exposition: the server's own set
// (admin request counters, whatever voxd adds), the pod's figures computed
// from one Status() snapshot, then Go runtime and process metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}

// dropReasons name the drop counters in the reason label of
// vox_dropped_packets_total.
var dropReasons = []struct {
	reason string
	get    func(*sessionmgr.Counters) uint64
}{
	{"unknown_ssrc", func(c *sessionmgr.Counters) uint64 { return c.DropUnknownSSRC }},
	{"auth", func(c *sessionmgr.Counters) uint64 { return c.DropAuth }},
	{"replay", func(c *sessionmgr.Counters) uint64 { return c.DropReplay }},
	{"malformed", func(c *sessionmgr.Counters) uint64 { return c.DropMalformed }},
	{"too_short", func(c *sessionmgr.Counters) uint64 { return c.DropTooShort }},
	{"too_long", func(c *sessionmgr.Counters) uint64 { return c.DropTooLong }},
	{"not_rtp", func(c *sessionmgr.Counters) uint64 { return c.DropNotRTP }},
	{"rate_limit", func(c *sessionmgr.Counters) uint64 { return c.DropRateLimit }},
	{"truncated", func(c *sessionmgr.Counters) uint64 { return c.DropTruncated }},
}

var knownStates = []sessionmgr.State{
	sessionmgr.StateAccepting, sessionmgr.StateFull, sessionmgr.StateStopped,
	sessionmgr.StateDraining, sessionmgr.StateDrained,
}

// writeStatusMetrics is registered as a metrics writer of s.metrics: it
// runs at scrape time and writes every vox_* series of one Status()
// snapshot, each family once with its HELP and TYPE.
func (s *Server) writeStatusMetrics(w io.Writer) {
	st := s.backend.Status()
	s.rates.observe(time.Now(), st.Totals)
	p := &promWriter{w: w}
	t := &st.Totals

	p.gauge("vox_accepting", "1 while the pod accepts new sessions and participants.", "", b2f(st.Accepting))
	p.family("vox_state", "gauge", "The pod's admission state: 1 for the current state.")
	states := knownStates
	if !slices.Contains(states, st.State) && st.State != "" {
		states = append(slices.Clone(states), st.State)
	}
	for _, state := range states {
		p.sample("vox_state", label("state", string(state)), b2f(state == st.State))
	}
	p.gauge("vox_cpu_percent", "Smoothed CPU use in percent of the container's CPU allowance, as admission sees it.", "", st.CPUPercent)
	p.counter("vox_expired_sessions_total", "Sessions created empty that nobody joined within the join timeout.", st.ExpiredSessions)
	p.gauge("vox_sessions", "Sessions on the pod.", "", float64(st.Sessions))
	p.gauge("vox_participants", "Participants on the pod.", "", float64(st.Participants))
	p.gauge("vox_max_sessions", "Limit on sessions per pod.", "", float64(st.Limits.MaxSessions))
	p.gauge("vox_max_participants", "Limit on participants per pod.", "", float64(st.Limits.MaxParticipants))
	p.gauge("vox_max_session_participants", "Limit on participants per session.", "", float64(st.Limits.MaxSessionParticipants))
	p.gauge("vox_steering", "1 when SSRC steering (reuseport cBPF) is attached.", "", b2f(st.Steering))

	p.counter("vox_rx_packets_total", "Datagrams received.", t.RxPackets)
	p.counter("vox_rx_bytes_total", "Bytes received (UDP payload).", t.RxBytes)
	p.counter("vox_tx_packets_total", "Datagrams sent.", t.TxPackets)
	p.counter("vox_tx_bytes_total", "Bytes sent (UDP payload).", t.TxBytes)
	p.counter("vox_forwarded_packets_total", "RTP packets sent to listeners.", t.Forwarded)
	p.counter("vox_withheld_packets_total", "RTP copies not sent in forward mode by policy: speaker not selected or muted, or the listener does not hear it (own mutes, channels).", t.Withheld)
	p.counter("vox_no_address_packets_total", "RTP copies not sent because the listener has no latched address yet (it has sent no authenticated packet).", t.NoAddress)
	p.counter("vox_encrypt_errors_total", "Outbound SRTP/SRTCP encryptions that failed (the copy was not sent).", t.EncryptErrors)
	p.counter("vox_mixed_packets_total", "Mix-mode RTP packets sent: one per listener per 20 ms tick with something to hear.", t.Mixed)
	p.counter("vox_rtcp_in_packets_total", "Authenticated RTCP packets from clients.", t.RTCPIn)
	p.counter("vox_rtcp_out_packets_total", "RTCP packets sent (receiver reports, notices).", t.RTCPOut)
	p.counter("vox_rebinds_total", "Latched address changes (NAT rebinding).", t.Rebinds)
	p.counter("vox_kernel_drops_total", "Datagrams the kernel dropped for a full socket buffer.", t.KernelDrops)
	p.counter("vox_send_errors_total", "Datagrams the server failed to send.", t.SendErrors)

	p.family("vox_dropped_packets_total", "counter", "Received packets dropped, by reason.")
	for _, d := range dropReasons {
		p.sampleUint("vox_dropped_packets_total", label("reason", d.reason), d.get(t))
	}
	if len(t.Removed) > 0 {
		p.family("vox_participants_removed_total", "counter", "Participants removed, by reason.")
		reasons := make([]string, 0, len(t.Removed))
		for r := range t.Removed {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			p.sampleUint("vox_participants_removed_total", label("reason", r), t.Removed[r])
		}
	}

	writeDrainMetrics(p, st.Drain, st.ReconnectNotices)

	if len(st.Shards) == 0 {
		return
	}
	perShard := []struct {
		name, typ, help string
		get             func(*sessionmgr.ShardStatus) uint64
	}{
		{"vox_shard_sessions", "gauge", "Sessions on a shard.", func(sh *sessionmgr.ShardStatus) uint64 { return uint64(max(sh.Sessions, 0)) }},
		{"vox_shard_participants", "gauge", "Participants on a shard.", func(sh *sessionmgr.ShardStatus) uint64 { return uint64(max(sh.Participants, 0)) }},
		{"vox_shard_rx_packets_total", "counter", "Datagrams received by a shard.", func(sh *sessionmgr.ShardStatus) uint64 { return sh.Counters.RxPackets }},
		{"vox_shard_rx_bytes_total", "counter", "Bytes received by a shard.", func(sh *sessionmgr.ShardStatus) uint64 { return sh.Counters.RxBytes }},
		{"vox_shard_tx_packets_total", "counter", "Datagrams sent by a shard.", func(sh *sessionmgr.ShardStatus) uint64 { return sh.Counters.TxPackets }},
		{"vox_shard_tx_bytes_total", "counter", "Bytes sent by a shard.", func(sh *sessionmgr.ShardStatus) uint64 { return sh.Counters.TxBytes }},
	}
	for _, m := range perShard {
		p.family(m.name, m.typ, m.help)
		for i := range st.Shards {
			sh := &st.Shards[i]
			p.sampleUint(m.name, label("shard", strconv.Itoa(sh.ID)), m.get(sh))
		}
	}
}

// promWriter writes Prometheus text exposition lines. Each family is
// written once, its samples together, as the format requires.
type promWriter struct{ w io.Writer }

func (p *promWriter) family(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p *promWriter) sample(name, labels string, v float64) {
	fmt.Fprintf(p.w, "%s%s %s\n", name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

func (p *promWriter) sampleUint(name, labels string, v uint64) {
	fmt.Fprintf(p.w, "%s%s %d\n", name, labels, v)
}

func (p *promWriter) gauge(name, help, labels string, v float64) {
	p.family(name, "gauge", help)
	p.sample(name, labels, v)
}

func (p *promWriter) counter(name, help string, v uint64) {
	p.family(name, "counter", help)
	p.sampleUint(name, "", v)
}

// label returns {name="value"} with value escaped for the text format.
func label(name, value string) string {
	value = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(value)
	return "{" + name + `="` + value + `"}`
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Rates are the pod's traffic rates in /v1/status.
type Rates struct {
	// PPSIn and PPSOut are datagrams per second received and sent.
	PPSIn  float64 `json:"pps_in"`
	PPSOut float64 `json:"pps_out"`
	// BPSIn and BPSOut are bits per second of UDP payload.
	BPSIn  float64 `json:"bps_in"`
	BPSOut float64 `json:"bps_out"`
	// WindowMS is the span the rates are averaged over; 0 when there was
	// no earlier sample (the first call), and the rates are then 0.
	WindowMS int64 `json:"window_ms"`
}

// rateTracker computes rates over a sliding window from the samples that
// /v1/status and /metrics take of the total counters: the rate is averaged
// since the oldest sample taken within the window or, when there is none
// that recent, since the latest earlier one. Samples closer together than
// a tenth of the window are not kept, so the ring stays small.
type rateTracker struct {
	window time.Duration

	mu      sync.Mutex   // guards samples
	samples []rateSample // oldest first
}

type rateSample struct {
	at                   time.Time
	rxPackets, txPackets uint64
	rxBytes, txBytes     uint64
}

func (t *rateTracker) observe(now time.Time, c sessionmgr.Counters) Rates {
	cur := rateSample{at: now, rxPackets: c.RxPackets, txPackets: c.TxPackets, rxBytes: c.RxBytes, txBytes: c.TxBytes}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Forget samples older than the window, but keep the latest one.
	cut := 0
	for cut < len(t.samples)-1 && now.Sub(t.samples[cut].at) > t.window {
		cut++
	}
	t.samples = append(t.samples[:0], t.samples[cut:]...)

	var r Rates
	if len(t.samples) > 0 {
		base := t.samples[0]
		if dt := now.Sub(base.at); dt > 0 {
			sec := dt.Seconds()
			r = Rates{
				PPSIn:    perSecond(base.rxPackets, cur.rxPackets, sec),
				PPSOut:   perSecond(base.txPackets, cur.txPackets, sec),
				BPSIn:    8 * perSecond(base.rxBytes, cur.rxBytes, sec),
				BPSOut:   8 * perSecond(base.txBytes, cur.txBytes, sec),
				WindowMS: dt.Milliseconds(),
			}
		}
	}
	if n := len(t.samples); n == 0 || now.Sub(t.samples[n-1].at) >= t.window/10 {
		t.samples = append(t.samples, cur)
	}
	return r
}

// perSecond is (to-from)/sec, 0 if the counter went back (a reset).
func perSecond(from, to uint64, sec float64) float64 {
	if to < from {
		return 0
	}
	return float64(to-from) / sec
}
