package main

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/bench/stats"
)

// Result is a steady run's outcome, printed by --json as one object.
// Counts cover the measured window only: packets whose send time (carried
// in the payload) lies in it. Expected for a listener is the sum, over the
// other talkers of its session, of the packets they sent successfully in the
// window; delivered the distinct ones it received and decrypted.
type Result struct {
	RunID        string  `json:"run_id"`
	Sessions     int     `json:"sessions"`
	Size         int     `json:"size"`
	Talkers      int     `json:"talkers_per_session"`
	Participants int     `json:"participants"`
	PayloadBytes int     `json:"payload_bytes"`
	DurationS    float64 `json:"duration_s"`
	WarmupS      float64 `json:"warmup_s"`

	Sent       uint64  `json:"sent"`       // packets the talkers sent in the window
	Expected   uint64  `json:"expected"`   // copies the listeners should have received
	Delivered  uint64  `json:"delivered"`  // distinct copies received
	Lost       uint64  `json:"lost"`       // expected - delivered (never negative)
	LossPct    float64 `json:"loss_pct"`   // 100 × lost / expected
	Duplicates uint64  `json:"duplicates"` // copies received more than once
	Reordered  uint64  `json:"reordered"`  // received after a later packet of the same sender
	Misrouted  uint64  `json:"misrouted"`  // from another session, from oneself, or not voxbench's
	// ListenersShort counts listeners that missed at least one packet;
	// StreamsDead the (listener, talker) pairs with nothing delivered of
	// something expected: a missing fan-out.
	ListenersShort int `json:"listeners_short"`
	StreamsDead    int `json:"streams_dead"`

	Latency Latency `json:"latency"` // one-way, send to receive, same clock
	// LatencyKind is empty for the one-way latency, "mix_lateness" in a
	// --mix run (Latency is then each mixed packet's lateness, mix.go).
	LatencyKind string `json:"latency_kind,omitempty"`
	// Mix is set by a --mix run.
	Mix *MixResult `json:"mix,omitempty"`
	// JitterMeanUS and JitterMaxUS are the RFC 3550 interarrival jitter
	// over the streams, mean and largest.
	JitterMeanUS float64 `json:"jitter_mean_us"`
	JitterMaxUS  float64 `json:"jitter_max_us"`

	Server     Server     `json:"server"`
	Generator  Generator  `json:"generator"`
	Objectives Objectives `json:"objectives"`
	// Listeners has every participant's receive side (talkers hear the
	// other talkers).
	Listeners []ListenerResult `json:"listeners"`
}

// Latency is in microseconds: nearest-rank percentiles of a histogram with
// 6.25 % buckets (exact below 16 µs); Max exact.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50US   float64 `json:"p50_us"`
	P99US   float64 `json:"p99_us"`
	P999US  float64 `json:"p99_9_us"`
	MaxUS   float64 `json:"max_us"`
	MeanUS  float64 `json:"mean_us"`
}

// Server is the pod's own view from /v1/status, the difference of its
// counters between the window's start and end, per second.
type Server struct {
	Measured     bool    `json:"measured"` // false if /v1/status failed
	Error        string  `json:"error,omitempty"`
	RxPPS        float64 `json:"rx_pps"`
	TxPPS        float64 `json:"tx_pps"`
	ForwardedPPS float64 `json:"forwarded_pps"`
	Withheld     uint64  `json:"withheld"`     // copies not sent (muted, not selected, ...)
	Drops        uint64  `json:"drops"`        // all drop counters
	KernelDrops  uint64  `json:"kernel_drops"` // socket buffer overflow
	SendErrors   uint64  `json:"send_errors"`
	CPUPercent   float64 `json:"cpu_percent"` // the pod's smoothed CPU % at the end
	// RxPerBatch and TxPerCall: datagrams per recvmmsg call that returned
	// some and per sendmmsg call (0: the pod does not report them);
	// CoalescePauses: the pod's receive-coalescing pauses in the window.
	RxPerBatch     float64 `json:"rx_per_batch,omitempty"`
	TxPerCall      float64 `json:"tx_per_call,omitempty"`
	CoalescePauses uint64  `json:"coalesce_pauses"`
	// With --server-pid: the server process's CPU over the window, in
	// cores, per packet received, per RTP copy forwarded, and per
	// participant-second (ms of CPU per participant per second).
	ProcessMeasured        bool    `json:"process_measured"`
	ProcessError           string  `json:"process_error,omitempty"`
	CPUCores               float64 `json:"process_cpu_cores,omitempty"`
	CPUPerRxPacketUS       float64 `json:"process_cpu_per_rx_packet_us,omitempty"`
	CPUPerForwardedUS      float64 `json:"process_cpu_per_forwarded_us,omitempty"`
	CPUPerParticipantSecMS float64 `json:"process_cpu_per_participant_s_ms,omitempty"`
	// PeakRxPPS and PeakForwardedPPS are the highest rates between two
	// polls of the status during the window (blast only).
	PeakRxPPS        float64 `json:"peak_rx_pps,omitempty"`
	PeakForwardedPPS float64 `json:"peak_forwarded_pps,omitempty"`
}

// Generator is voxbench's own load: if it is saturated, the numbers
// measure the generator, not the server.
type Generator struct {
	CPUCores   float64 `json:"cpu_cores"` // CPU seconds per second over the window (getrusage)
	NumCPU     int     `json:"num_cpu"`
	Saturated  bool    `json:"saturated"` // cpu_cores ≥ 85 % of num_cpu, or its receive queues overflowed (RxDrops)
	SendErrors uint64  `json:"send_errors"`
	LateSends  uint64  `json:"late_sends"` // sent more than one frame behind schedule
	// Transport is --transport: "gso" (participants share one socket per
	// position in their session; GSO says whether the kernel took UDP GSO
	// messages, Writes counts the send system calls) or "socket" (one
	// socket per participant).
	Transport string `json:"transport"`
	Sockets   int    `json:"sockets"`
	// SendTickUS is --send-tick (0: every frame sent as it falls due).
	SendTickUS float64 `json:"send_tick_us"`
	GSO        bool    `json:"gso"`
	Writes     uint64  `json:"writes,omitempty"`
	// GROSegments counts datagrams that arrived coalesced by UDP GRO
	// (none on loopback unless the server sends GSO); Undecryptable
	// packets failed SRTP (counted as not delivered), Truncated did not
	// fit the receive buffer; RTCPReceived counts the server's
	// authenticated reports. gso transport only.
	GROSegments   uint64 `json:"gro_segments,omitempty"`
	Undecryptable uint64 `json:"undecryptable,omitempty"`
	Truncated     uint64 `json:"truncated,omitempty"`
	RTCPReceived  uint64 `json:"rtcp_received,omitempty"`
	// RTCPSendErrors counts participants' RTCP reports that failed to
	// send (gso transport; the socket transport counts them inside
	// the client).
	RTCPSendErrors uint64 `json:"rtcp_send_errors,omitempty"`
	// RxDrops counts datagrams the kernel dropped at the generator's own
	// receive queues during the window (gso transport on Linux; absent if
	// unknown): loss the generator caused by not keeping up, not the
	// server's. Saturated is set when it is not zero.
	RxDrops *uint64 `json:"rx_socket_drops,omitempty"`
}

// Objectives are --max-loss and --max-p99 and whether they were met.
type Objectives struct {
	MaxLossPct *float64 `json:"max_loss_pct,omitempty"`
	MaxP99US   *float64 `json:"max_p99_us,omitempty"`
	Met        bool     `json:"met"`
	Missed     []string `json:"missed,omitempty"`
}

// ListenerResult is one participant's receive side.
type ListenerResult struct {
	ID         string  `json:"id"`
	Expected   uint64  `json:"expected"`
	Delivered  uint64  `json:"delivered"`
	LossPct    float64 `json:"loss_pct"`
	Duplicates uint64  `json:"duplicates"`
	Reordered  uint64  `json:"reordered"`
	DeadFrom   int     `json:"dead_streams"` // talkers it heard nothing from
	P99US      float64 `json:"p99_us"`
}

func usf(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func sumDrops(c api.Counters) uint64 {
	return c.DropUnknownSSRC + c.DropAuth + c.DropReplay + c.DropMalformed + c.DropTooShort +
		c.DropTooLong + c.DropNotRTP + c.DropRateLimit + c.DropTruncated + c.KernelDrops
}

func (b *bench) result(st0, st1 api.Status, stWall time.Duration, stErr error, cpu time.Duration) *Result {
	c := b.c
	r := &Result{
		Sessions: c.sessions, Size: c.size, Talkers: c.talkers, Participants: c.sessions * c.size,
		PayloadBytes: c.payload, DurationS: c.duration.Seconds(), WarmupS: c.warmup.Seconds(),
	}
	var all stats.Histogram
	var jitSum time.Duration
	var jitN int
	for _, tk := range b.tx {
		if tk != nil {
			r.Sent += tk.sent
			r.Generator.SendErrors += tk.sendErrors
			r.Generator.LateSends += tk.late
		}
	}
	if c.mix {
		r.Mix = &MixResult{FrameBytes: meanMixFrame()}
		r.LatencyKind = "mix_lateness"
	}
	for _, rx := range b.rx {
		lr := ListenerResult{ID: rx.id}
		if rx.mix != nil {
			b.mixResult(rx, &lr, &all, r.Mix)
			if st := &rx.mix.stream; st.Received > 1 {
				// The mixed stream's RFC 3550 jitter (over lateness).
				jitSum += st.Jitter
				jitN++
				r.JitterMaxUS = max(r.JitterMaxUS, usf(st.Jitter))
			}
		}
		for lt := range rx.streams {
			if rx.mix != nil {
				break
			}
			from := rx.session*c.size + lt
			if from == rx.index {
				continue
			}
			st := &rx.streams[lt]
			exp := b.tx[from].sent
			lr.Expected += exp
			lr.Delivered += min(st.Received, exp)
			lr.Duplicates += st.Duplicates
			lr.Reordered += st.Reordered
			if exp > 0 && st.Received == 0 {
				lr.DeadFrom++
			}
			if st.Received > 1 {
				jitSum += st.Jitter
				jitN++
				r.JitterMaxUS = max(r.JitterMaxUS, usf(st.Jitter))
			}
		}
		lr.LossPct = 100 * stats.Loss(lr.Expected, lr.Delivered)
		if rx.mix == nil {
			lr.P99US = usf(rx.hist.Quantile(0.99))
			all.Merge(&rx.hist)
		}
		r.Expected += lr.Expected
		r.Delivered += lr.Delivered
		r.Duplicates += lr.Duplicates
		r.Reordered += lr.Reordered
		r.Misrouted += rx.misrouted
		r.StreamsDead += lr.DeadFrom
		if lr.Delivered < lr.Expected {
			r.ListenersShort++
		}
		r.Listeners = append(r.Listeners, lr)
	}
	r.Lost = r.Expected - r.Delivered
	r.LossPct = 100 * stats.Loss(r.Expected, r.Delivered)
	if jitN > 0 {
		r.JitterMeanUS = usf(jitSum / time.Duration(jitN))
	}
	r.Latency = Latency{Samples: all.Count(), P50US: usf(all.Quantile(0.5)), P99US: usf(all.Quantile(0.99)),
		P999US: usf(all.Quantile(0.999)), MaxUS: usf(all.Max()), MeanUS: usf(all.Mean())}

	if stErr != nil {
		r.Server.Error = stErr.Error()
	} else if stWall > 0 {
		s := stWall.Seconds()
		a, z := st0.Totals, st1.Totals
		r.Server = Server{Measured: true,
			RxPPS: float64(z.RxPackets-a.RxPackets) / s, TxPPS: float64(z.TxPackets-a.TxPackets) / s,
			ForwardedPPS: float64(z.Forwarded-a.Forwarded) / s, Withheld: z.Withheld - a.Withheld,
			Drops: sumDrops(z) - sumDrops(a), KernelDrops: z.KernelDrops - a.KernelDrops,
			SendErrors: z.SendErrors - a.SendErrors, CPUPercent: st1.CPUPercent,
			CoalescePauses: z.CoalescePauses - a.CoalescePauses}
		if b := z.RxBatches - a.RxBatches; b > 0 {
			r.Server.RxPerBatch = float64(z.RxPackets-a.RxPackets) / float64(b)
		}
		if c := z.TxCalls - a.TxCalls; c > 0 {
			r.Server.TxPerCall = float64(z.TxPackets-a.TxPackets) / float64(c)
		}
	}
	r.Generator.NumCPU = runtime.NumCPU()
	if stWall > 0 {
		r.Generator.CPUCores = cpu.Seconds() / stWall.Seconds()
	}
	r.Generator.Saturated = r.Generator.CPUCores >= 0.85*float64(r.Generator.NumCPU)

	r.Objectives.Met = true
	if c.maxLoss >= 0 {
		v := c.maxLoss
		r.Objectives.MaxLossPct = &v
		if r.LossPct > v {
			r.Objectives.Met = false
			r.Objectives.Missed = append(r.Objectives.Missed, fmt.Sprintf("loss %.3f %% > %.3f %%", r.LossPct, v))
		}
	}
	if c.maxP99 > 0 {
		v := usf(c.maxP99)
		r.Objectives.MaxP99US = &v
		if r.Latency.P99US > v {
			r.Objectives.Met = false
			r.Objectives.Missed = append(r.Objectives.Missed, fmt.Sprintf("p99 %.0f µs > %.0f µs", r.Latency.P99US, v))
		}
	}
	return r
}

// serverCPU fills the --server-pid figures from cpu, the server's CPU
// time over the window of length wall.
func (r *Result) serverCPU(c *steadyConfig, cpu time.Duration, err error, wall time.Duration) {
	if c.serverPID <= 0 {
		return
	}
	if err != nil {
		r.Server.ProcessError = err.Error()
		return
	}
	if wall <= 0 || !r.Server.Measured {
		r.Server.ProcessError = "no server counters"
		return
	}
	s := wall.Seconds()
	r.Server.ProcessMeasured = true
	r.Server.CPUCores = cpu.Seconds() / s
	if r.Server.RxPPS > 0 {
		r.Server.CPUPerRxPacketUS = usf(cpu) / (r.Server.RxPPS * s)
	}
	if r.Server.ForwardedPPS > 0 {
		r.Server.CPUPerForwardedUS = usf(cpu) / (r.Server.ForwardedPPS * s)
	}
	if r.Participants > 0 {
		r.Server.CPUPerParticipantSecMS = cpu.Seconds() * 1e3 / (float64(r.Participants) * s)
	}
}

// writeTable prints the readable report: the totals, and the worst
// listeners (all of them with all).
func writeTable(w io.Writer, r *Result, all bool) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "layout\t%d sessions × %d (%d talking each), %d participants, %d-byte payloads, %gs measured after %gs warm-up\n",
		r.Sessions, r.Size, r.Talkers, r.Participants, r.PayloadBytes, r.DurationS, r.WarmupS)
	fmt.Fprintf(tw, "sent\t%d packets\n", r.Sent)
	fmt.Fprintf(tw, "delivered / expected\t%d / %d\n", r.Delivered, r.Expected)
	fmt.Fprintf(tw, "loss\t%.3f %%  (%d lost; %d listeners short, %d dead streams)\n", r.LossPct, r.Lost, r.ListenersShort, r.StreamsDead)
	fmt.Fprintf(tw, "duplicates / reordered / misrouted\t%d / %d / %d\n", r.Duplicates, r.Reordered, r.Misrouted)
	latName := "latency (one-way)"
	if r.LatencyKind == "mix_lateness" {
		latName = "mix lateness"
	}
	fmt.Fprintf(tw, "%s\tp50 %s  p99 %s  p99.9 %s  max %s  (%d samples)\n",
		latName, fmtUS(r.Latency.P50US), fmtUS(r.Latency.P99US), fmtUS(r.Latency.P999US), fmtUS(r.Latency.MaxUS), r.Latency.Samples)
	if m := r.Mix; m != nil {
		fmt.Fprintf(tw, "mixed streams\t%d packets  %d ticks skipped  %d short mixes  (talkers' Opus frames %.0f bytes on average)\n",
			m.Packets, m.TicksSkipped, m.Short, m.FrameBytes)
	}
	fmt.Fprintf(tw, "jitter\tmean %s  max %s\n", fmtUS(r.JitterMeanUS), fmtUS(r.JitterMaxUS))
	if r.Server.Measured {
		fmt.Fprintf(tw, "server\tin %.0f pps  out %.0f pps  forwarded %.0f pps  withheld %d  drops %d (kernel %d)  send errors %d  cpu %.0f %%\n",
			r.Server.RxPPS, r.Server.TxPPS, r.Server.ForwardedPPS, r.Server.Withheld, r.Server.Drops, r.Server.KernelDrops, r.Server.SendErrors, r.Server.CPUPercent)
	} else {
		fmt.Fprintf(tw, "server\tnot measured: %s\n", r.Server.Error)
	}
	if r.Server.ProcessMeasured {
		fmt.Fprintf(tw, "server process\t%.3f CPUs  %.2f µs per packet in  %.2f µs per copy forwarded  %.3f ms per participant-second\n",
			r.Server.CPUCores, r.Server.CPUPerRxPacketUS, r.Server.CPUPerForwardedUS, r.Server.CPUPerParticipantSecMS)
	} else if r.Server.ProcessError != "" {
		fmt.Fprintf(tw, "server process\tnot measured: %s\n", r.Server.ProcessError)
	}
	sat := ""
	if r.Generator.Saturated {
		sat = "  SATURATED: these numbers measure the generator"
	}
	gsoNote := ""
	if r.Generator.Transport == "gso" {
		gsoNote = ", one send call per UDP GSO batch"
		if !r.Generator.GSO {
			gsoNote = ", kernel refused GSO: one send call per packet"
		}
	}
	fmt.Fprintf(tw, "generator\t%.2f of %d CPUs  send errors %d  late sends %d  transport %s (%d sockets%s)%s\n", r.Generator.CPUCores, r.Generator.NumCPU,
		r.Generator.SendErrors, r.Generator.LateSends, r.Generator.Transport, r.Generator.Sockets, gsoNote, sat)
	tw.Flush()

	ls := append([]ListenerResult(nil), r.Listeners...)
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].LossPct > ls[j].LossPct })
	if !all && len(ls) > 5 {
		ls = ls[:5]
	}
	title := "worst listeners"
	if all {
		title = "listeners"
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "id\texpected\tdelivered\tloss %\tdead\tdups\treordered\tp99")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%d\t%d\t%d\t%s\n", l.ID, l.Expected, l.Delivered, l.LossPct, l.DeadFrom, l.Duplicates, l.Reordered, fmtUS(l.P99US))
	}
	tw.Flush()
}

func fmtUS(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	default:
		return fmt.Sprintf("%.0fµs", us)
	}
}
