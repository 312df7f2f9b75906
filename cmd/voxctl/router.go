package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/voxfleet/vox/api"
)

// The fleet router's commands: --addr names the router (voxrouter's
// --addr) and --token its API token.

var podsCmd = command{
	name: "pods", summary: "the router's pods: load, state, whether they take new sessions", usage: "pods",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			list, err := c.api.Pods(ctx)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(list)
			}
			writePods(c.stdout, list)
			return exitOK
		}
	},
}

// writePods prints the pod list for a human.
func writePods(out io.Writer, list api.PodList) {
	if len(list.Pods) == 0 {
		fmt.Fprintln(out, "no pods (none has reported)")
		return
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "POD\tPOOL\tSTATE\tPLACEABLE\tSESSIONS\tPARTICIPANTS\tPENDING\tCPU\tREPORT AGO\tMEDIA")
	for _, p := range list.Pods {
		placeable := "yes"
		if !p.Placeable {
			placeable = "no: " + p.Why
		}
		printf(w, "%s\t%s\t%s\t%s\t%d/%d\t%d/%d\t+%d/+%d\t%.0f%%\t%dms\t%s:%d\n", p.Name, p.Pool, p.State, placeable,
			p.SessionCount, p.Limits.MaxSessions, p.Participants, p.Limits.MaxParticipants,
			p.PendingSessions, p.PendingParticipants, p.CPUPercent, p.LastReportAgoMS, p.Media.Address, p.Media.Port)
	}
	_ = w.Flush()
}

var whereCmd = command{
	name: "where", summary: "which pod a session lives on (router)", usage: "where <session-id>",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if len(c.args) != 1 {
				printf(c.stderr, "voxctl where: one session id, please (run 'voxctl where --help')\n")
				return exitUsage
			}
			s, err := c.api.WhereIs(ctx, c.args[0])
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(s)
			}
			reported := "not in its last report yet"
			if s.Reported {
				reported = fmt.Sprintf("%d participants in its last report", s.Participants)
			}
			printf(c.stdout, "%s: on %s (media %s:%d), %s\n", s.ID, s.Pod, s.Media.Address, s.Media.Port, reported)
			return exitOK
		}
	},
}

var routerStatusCmd = command{
	name: "router-status", summary: "the router at a glance: pods, sessions, admissions, latency", usage: "router-status",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			st, err := c.api.RouterStatus(ctx)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(st)
			}
			w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			printf(w, "ready:\t%s\n", yesNo(st.Ready))
			printf(w, "pods:\t%d (%d placeable, %d stale)\n", st.Pods, st.PodsPlaceable, st.PodsStale)
			printf(w, "sessions:\t%d (%d participants reported)\n", st.Sessions, st.Participants)
			printf(w, "admissions:\t%d ok, %d failed, %.1f/s over %ds\n", st.Admissions, st.AdmissionsFailed,
				st.AdmissionsPerSecond, st.RateWindowMS/1000)
			printf(w, "latency:\tp50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n", st.LatencyP50MS, st.LatencyP90MS, st.LatencyP99MS)
			printf(w, "retries:\t%d; no pod: %d; moves: %d; splits: %d; reports: %d\n",
				st.Retries, st.NoPod, st.Moves, st.Splits, st.Reports)
			_ = w.Flush()
			return exitOK
		}
	},
}
