package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/voxfleet/vox/api"
)

// statusView is the body of GET /v1/status: the session manager's status
// and the traffic rates (as admin.StatusResponse, without importing the
// server).
type statusView struct {
	api.Status
	Rates rates `json:"rates"`
}

type rates struct {
	PPSIn    float64 `json:"pps_in"`
	PPSOut   float64 `json:"pps_out"`
	BPSIn    float64 `json:"bps_in"`
	BPSOut   float64 `json:"bps_out"`
	WindowMS int64   `json:"window_ms"`
}

// printJSON writes v as one line of JSON.
func (c *cli) printJSON(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		printf(c.stderr, "voxctl %s: %v\n", c.cmd, err)
		return exitFailed
	}
	_, _ = c.stdout.Write(append(jsonSafe(b), '\n'))
	return exitOK
}

var statusCmd = command{
	name: "status", summary: "the pod at a glance", usage: "status",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			var st statusView
			if _, err := c.api.Do(ctx, http.MethodGet, "/v1/status", nil, &st); err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(st)
			}
			writeStatus(c.stdout, &st, c.now())
			return exitOK
		}
	},
}

// writeStatus prints the status for a human.
func writeStatus(out io.Writer, st *statusView, now time.Time) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	printf(w, "state:\t%s\n", st.State)
	if st.Reason != "" {
		printf(w, "reason:\t%s\n", st.Reason)
	}
	printf(w, "sessions:\t%d / %d\n", st.Sessions, st.Limits.MaxSessions)
	printf(w, "participants:\t%d / %d (at most %d per session)\n", st.Participants, st.Limits.MaxParticipants, st.Limits.MaxSessionParticipants)
	printf(w, "cpu:\t%.1f%%\n", st.CPUPercent)
	if st.Rates.WindowMS > 0 {
		printf(w, "traffic:\tin %.0f pps %s, out %.0f pps %s (over %s)\n",
			st.Rates.PPSIn, bits(st.Rates.BPSIn), st.Rates.PPSOut, bits(st.Rates.BPSOut),
			(time.Duration(st.Rates.WindowMS) * time.Millisecond).Round(100*time.Millisecond))
	} else {
		printf(w, "traffic:\tno rate yet (first sample)\n")
	}
	printf(w, "packets:\trx %d, tx %d, forwarded %d, dropped %d\n",
		st.Totals.RxPackets, st.Totals.TxPackets, st.Totals.Forwarded, dropped(&st.Totals))
	steering := "off (address hash)"
	if st.Steering {
		steering = "on (SSRC)"
	}
	printf(w, "steering:\t%s\n", steering)
	if st.ReconnectNotices > 0 {
		printf(w, "reconnect notices:\t%d (outside drains)\n", st.ReconnectNotices)
	}
	if d := st.Drain; d != nil {
		writeDrain(w, d, now)
	}
	_ = w.Flush()
	if len(st.Shards) > 0 {
		fmt.Fprintln(out, "shards:")
		w = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "  SHARD\tSESSIONS\tPARTICIPANTS\tRX PKTS\tTX PKTS\t")
		for _, sh := range st.Shards {
			printf(w, "  %d\t%d\t%d\t%d\t%d\t\n", sh.ID, sh.Sessions, sh.Participants, sh.Counters.RxPackets, sh.Counters.TxPackets)
		}
		_ = w.Flush()
	}
}

// writeDrain prints a drain's status as tabwriter rows.
func writeDrain(w io.Writer, d *api.DrainStatus, now time.Time) {
	printf(w, "drain:\t%s (%s), started %s ago\n", d.Phase, d.Reason, ago(now, d.StartedAt))
	printf(w, "\tleft: %d participants in %d sessions\n", d.ParticipantsLeft, d.SessionsLeft)
	printf(w, "\tnotices sent %d (+%d repeats); reconnected %d, timed out %d, unreachable %d, removed at deadline %d\n",
		d.NoticesSent, d.NoticesRepeated, d.Reconnected, d.TimedOut, d.Unreachable, d.RemovedAtDeadline)
	when := func(t time.Time) string {
		s := t.UTC().Format(time.RFC3339)
		if t.After(now) {
			s += " (in " + t.Sub(now).Round(time.Second).String() + ")"
		}
		return s
	}
	printf(w, "\tgrace until %s; deadline %s\n", when(d.GraceUntil), when(d.Deadline))
	printf(w, "\trate %s notices/s, window %s, exit when drained: %s\n",
		strconv.FormatFloat(d.Rate, 'f', -1, 64), time.Duration(d.WindowMS)*time.Millisecond, yesNo(d.Exit))
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// bits formats bits per second.
func bits(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.1f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.1f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

func dropped(t *api.Counters) uint64 {
	return t.DropUnknownSSRC + t.DropAuth + t.DropReplay + t.DropMalformed + t.DropTooShort +
		t.DropTooLong + t.DropNotRTP + t.DropRateLimit + t.DropTruncated
}

var sessionsCmd = command{
	name: "sessions", summary: "list the sessions", usage: "sessions",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			list, err := c.api.Sessions(ctx)
			if err != nil {
				return c.fail(err)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
			if list == nil {
				list = []api.SessionInfo{}
			}
			if c.g.json {
				return c.printJSON(struct {
					Sessions []api.SessionInfo `json:"sessions"`
				}{list})
			}
			now := c.now()
			w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tMEMBERS\tMAX\tSHARD\tAGE")
			for _, s := range list {
				printf(w, "%s\t%d\t%d\t%d\t%s\n", s.ID, len(s.Participants), s.MaxParticipants, s.Shard, ago(now, s.CreatedAt))
			}
			_ = w.Flush()
			return exitOK
		}
	},
}

var acceptStopCmd = command{
	name: "accept-stop", summary: "stop admitting new sessions and participants (sessions in progress continue)",
	usage: "accept-stop [--reason TEXT]",
	flags: func(fs *flag.FlagSet) func(context.Context, *cli) int {
		reason := fs.String("reason", "", "why, shown in /v1/status and /readyz (default: the server's \"stopped by operator\").")
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			st, err := c.api.AcceptStop(ctx, *reason)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(st)
			}
			printf(c.stdout, "admission stopped: state %s%s\n", st.State, reasonSuffix(st.Reason))
			return exitOK
		}
	},
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

var acceptResumeCmd = command{
	name: "accept-resume", summary: "admit again after accept-stop (refused while a drain runs)",
	usage: "accept-resume",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			st, err := c.api.AcceptResume(ctx)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(st)
			}
			printf(c.stdout, "admission resumed: state %s%s\n", st.State, reasonSuffix(st.Reason))
			return exitOK
		}
	},
}

// optBool is a flag that is unset, true or false (--exit, --exit=false).
type optBool struct{ v *bool }

func (o *optBool) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return strconv.FormatBool(*o.v)
}

func (o *optBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.v = &b
	return nil
}

func (o *optBool) IsBoolFlag() bool { return true }

// waitMargin is how long drain --wait waits past the drain's deadline (a
// variable for tests).
var waitMargin = 30 * time.Second

var drainCmd = command{
	name: "drain", summary: "drain the pod: stop admitting, let sessions end, then ask the rest to reconnect elsewhere",
	usage: "drain [--grace 60s] [--rate 200] [--deadline D] [--window 2s] [--exit=true|false] [--wait [--interval 1s]]",
	flags: func(fs *flag.FlagSet) func(context.Context, *cli) int {
		grace := fs.Duration("grace", 0, "time for sessions to end by themselves before reconnect notices start;\nthe drain can be cancelled during it (default: the server's, 60s).")
		rate := fs.Float64("rate", 0, "most reconnect notices per second, pod-wide (default: the server's, 200).")
		deadline := fs.Duration("deadline", 0, "hard end, from now: whatever is left then is removed (default: the server's\n--drain-deadline).")
		window := fs.Duration("window", 0, "each notified client reconnects at a random moment within this window\n(default: the server's, 2s).")
		var exit optBool
		fs.Var(&exit, "exit", "whether voxd calls Agones Shutdown and exits once drained: --exit or\n--exit=false (default: the server decides; yes under Agones, no standalone).")
		wait := fs.Bool("wait", false, "follow the drain: print its progress every --interval until the pod is\ndrained (exit 0), the server goes away after a drain with exit (exit 0), the\ndrain is cancelled (exit 1) or its deadline passes by 30s (exit 1).")
		interval := fs.Duration("interval", time.Second, "with --wait, how often to print the progress.")
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			for _, d := range []struct {
				name string
				v    time.Duration
			}{{"grace", *grace}, {"deadline", *deadline}, {"window", *window}} {
				if d.v < 0 {
					printf(c.stderr, "voxctl drain: --%s must not be negative\n", d.name)
					return exitUsage
				}
			}
			if *rate < 0 {
				fmt.Fprintln(c.stderr, "voxctl drain: --rate must not be negative")
				return exitUsage
			}
			if *interval <= 0 {
				fmt.Fprintln(c.stderr, "voxctl drain: --interval must be positive")
				return exitUsage
			}
			req := api.DrainRequest{
				Grace: api.Duration(*grace), Rate: *rate, Deadline: api.Duration(*deadline),
				Window: api.Duration(*window), Exit: exit.v,
			}
			start := time.Now()
			ds, err := c.api.Drain(ctx, req)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				c.printJSON(ds)
			} else {
				printf(c.stdout, "drain started: %d participants in %d sessions; notices from %s at %s/s; deadline %s; exit when drained: %s\n",
					ds.ParticipantsLeft, ds.SessionsLeft, ds.GraceUntil.UTC().Format(time.RFC3339),
					strconv.FormatFloat(ds.Rate, 'f', -1, 64), ds.Deadline.UTC().Format(time.RFC3339), yesNo(ds.Exit))
			}
			if !*wait {
				return exitOK
			}
			limit := ds.Deadline.Sub(ds.StartedAt)
			if limit <= 0 {
				limit = *deadline
			}
			return c.waitDrain(ctx, ds, start.Add(limit+waitMargin), *interval)
		}
	},
}

// waitDrain polls the status every interval and prints the drain's
// progress until it ends.
func (c *cli) waitDrain(ctx context.Context, ds api.DrainStatus, giveUp time.Time, interval time.Duration) int {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.stderr, "voxctl drain: interrupted; the drain goes on (voxctl drain-cancel stops it during the grace period)")
			return exitInterrupted
		case <-t.C:
		}
		var st statusView
		_, err := c.api.Do(ctx, http.MethodGet, "/v1/status", nil, &st)
		switch {
		case err != nil && ds.Exit && (isUnreachable(err) || isShuttingDown(err)):
			printf(c.stderr, "voxctl drain: %s went away: the pod was drained and exited\n", c.base)
			return exitOK
		case err != nil:
			return c.fail(err)
		}
		d := st.Drain
		if d == nil {
			fmt.Fprintln(c.stderr, "voxctl drain: the server reports no drain any more")
			return exitFailed
		}
		ds.Exit = d.Exit
		if c.g.json {
			c.printJSON(d)
		} else {
			printf(c.stdout, "%s  %-9s  left %d participants / %d sessions  notices %d (+%d)  reconnected %d  timed out %d\n",
				c.now().UTC().Format("15:04:05"), d.Phase, d.ParticipantsLeft, d.SessionsLeft,
				d.NoticesSent, d.NoticesRepeated, d.Reconnected, d.TimedOut)
		}
		switch {
		case d.Phase == api.DrainDrained || st.State == api.StateDrained:
			if !c.g.json {
				printf(c.stdout, "drained: %d notices sent, %d reconnected, %d timed out, %d removed at the deadline\n",
					d.NoticesSent, d.Reconnected, d.TimedOut, d.RemovedAtDeadline)
			}
			return exitOK
		case d.Phase == api.DrainCancelled:
			fmt.Fprintln(c.stderr, "voxctl drain: the drain was cancelled")
			return exitFailed
		case time.Now().After(giveUp):
			printf(c.stderr, "voxctl drain: not drained %s after its deadline; giving up waiting (the drain goes on)\n", waitMargin)
			return exitFailed
		}
	}
}

var drainCancelCmd = command{
	name: "drain-cancel", summary: "cancel a drain still in its grace period (admission resumes)",
	usage: "drain-cancel",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			ds, err := c.api.CancelDrain(ctx)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(ds)
			}
			printf(c.stdout, "drain %s: %d participants in %d sessions stay\n", ds.Phase, ds.ParticipantsLeft, ds.SessionsLeft)
			return exitOK
		}
	},
}

// stringList is a repeatable flag; each value may also be a comma list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v == "" {
			return errors.New("empty session id")
		}
		*l = append(*l, v)
	}
	return nil
}

var reconnectCmd = command{
	name: "reconnect", summary: "ask clients to reconnect elsewhere now, without draining",
	usage: "reconnect [--rate 200] [--window 2s] [--session ID ...]",
	flags: func(fs *flag.FlagSet) func(context.Context, *cli) int {
		rate := fs.Float64("rate", 0, "most reconnect notices per second (default: the server's, 200).")
		window := fs.Duration("window", 0, "each notified client reconnects at a random moment within this window\n(default: the server's, 2s).")
		var sessions stringList
		fs.Var(&sessions, "session", "a session whose clients to notify; repeat it or give a comma list\n(default: every session on the pod).")
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			if *rate < 0 || *window < 0 {
				fmt.Fprintln(c.stderr, "voxctl reconnect: --rate and --window must not be negative")
				return exitUsage
			}
			ans, err := c.api.Reconnect(ctx, api.ReconnectRequest{
				Rate: *rate, Window: api.Duration(*window), Sessions: sessions})
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(ans)
			}
			printf(c.stdout, "reconnect notices queued for %d participants in %d sessions (about %s at the rate)\n",
				ans.Participants, ans.Sessions, time.Duration(ans.ETA).Round(time.Millisecond))
			return exitOK
		}
	},
}
