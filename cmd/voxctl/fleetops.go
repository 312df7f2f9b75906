package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/voxfleet/vox/api"
)

// The router's fleet operations (docs/router.md, "Fleet operations").

var poolsCmd = command{
	name: "pools", summary: "the router's pools: weight, share of new sessions, region, load, drain (router)", usage: "pools",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			list, err := c.api.Pools(ctx)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(list)
			}
			writePools(c.stdout, list)
			return exitOK
		}
	},
}

func writePools(out io.Writer, list api.PoolList) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "POOL\tWEIGHT\tSHARE\tREGION\tALLOCATOR\tPODS\tPLACEABLE\tSESSIONS\tPARTICIPANTS\tFREE/TARGET\tDRAINING")
	for _, p := range list.Pools {
		free := "-"
		if p.Refill != nil {
			free = fmt.Sprintf("%d/%d", p.Refill.FreeSlots, p.Refill.TargetSlots)
		}
		region := p.Region
		if region == "" {
			region = "-"
		}
		fmt.Fprintf(w, "%s\t%g\t%.4f%%\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Name, p.Weight, 100*p.Share, region,
			p.Allocator, p.Pods, p.PodsPlaceable, p.Sessions, p.Participants, free, yesNo(p.Draining))
	}
	_ = w.Flush()
}

var poolWeightCmd = command{
	name: "pool-weight", summary: "set a pool's weight: its share of new sessions, at once (0: none; router)",
	usage: "pool-weight <pool> <weight>    e.g. pool-weight v2 0.0001 (0.01 % beside a pool of weight 1)",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if len(c.args) != 2 {
				printf(c.stderr, "voxctl pool-weight: a pool and a weight, please (run 'voxctl pool-weight --help')\n")
				return exitUsage
			}
			w, err := strconv.ParseFloat(c.args[1], 64)
			if err != nil {
				printf(c.stderr, "voxctl pool-weight: weight %q: a number ≥ 0, please\n", c.args[1])
				return exitUsage
			}
			p, err := c.api.SetPool(ctx, c.args[0], api.PoolUpdate{Weight: &w})
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(p)
			}
			printf(c.stdout, "%s: weight %g, %.4f %% of new sessions\n", p.Name, p.Weight, 100*p.Share)
			return exitOK
		}
	},
}

var poolDrainCmd = command{
	name: "pool-drain", summary: "move every session off a pool at the router's reconnect budget (router)",
	usage: "pool-drain [--cancel] <pool>",
	flags: func(fs *flag.FlagSet) func(context.Context, *cli) int {
		cancel := fs.Bool("cancel", false, "stop the pool's drain: it takes new sessions again, its pods not yet draining are given back")
		return func(ctx context.Context, c *cli) int {
			if len(c.args) != 1 {
				printf(c.stderr, "voxctl pool-drain: one pool, please (run 'voxctl pool-drain --help')\n")
				return exitUsage
			}
			p, err := c.api.DrainPool(ctx, c.args[0], *cancel)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(p)
			}
			if *cancel {
				printf(c.stdout, "%s: drain cancelled; weight %g\n", p.Name, p.Weight)
			} else {
				printf(c.stdout, "%s: draining (%d pods, %d participants); follow with 'voxctl drains'\n", p.Name, p.Pods, p.Participants)
			}
			return exitOK
		}
	},
}

var podDrainCmd = command{
	name: "pod-drain", summary: "drain one pod through the router, at its reconnect budget (router)",
	usage: "pod-drain [--grace 30s] [--cancel] <pod>",
	flags: func(fs *flag.FlagSet) func(context.Context, *cli) int {
		grace := fs.Duration("grace", 0, "let the pod's sessions end by themselves this long first (no new session meanwhile)")
		cancel := fs.Bool("cancel", false, "cancel the pod's drain while it has not begun to drain")
		return func(ctx context.Context, c *cli) int {
			if len(c.args) != 1 {
				printf(c.stderr, "voxctl pod-drain: one pod, please (run 'voxctl pod-drain --help')\n")
				return exitUsage
			}
			if *grace < 0 {
				printf(c.stderr, "voxctl pod-drain: --grace must not be negative\n")
				return exitUsage
			}
			d, err := c.api.DrainPod(ctx, c.args[0], *grace, *cancel)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(d)
			}
			printf(c.stdout, "%s: %s (%s), %d participants\n", d.Pod, d.Phase, d.Reason, d.Participants)
			return exitOK
		}
	},
}

var drainsCmd = command{
	name: "drains", summary: "the pods the router drains, the reconnect budget and consolidation (router)", usage: "drains",
	flags: func(*flag.FlagSet) func(context.Context, *cli) int {
		return func(ctx context.Context, c *cli) int {
			if code := c.noArgs(); code != exitOK {
				return code
			}
			d, err := c.api.Drains(ctx)
			if err != nil {
				return c.fail(err)
			}
			if c.g.json {
				return c.printJSON(d)
			}
			writeDrains(c.stdout, d, time.Now())
			return exitOK
		}
	},
}

func writeDrains(out io.Writer, d api.FleetDrains, now time.Time) {
	printf(out, "reconnect budget %g/s, %g/s assigned; %d of at most %d pods draining\n", d.Budget, d.Assigned, d.Draining, d.MaxDraining)
	cons := "off"
	if d.Consolidation.Enabled {
		cons = fmt.Sprintf("on: %d slots of surplus for %.0f s; %d pods chosen, %d given back", d.Consolidation.SurplusSlots,
			float64(d.Consolidation.SurplusForMS)/1000, d.Consolidation.Chosen, d.Consolidation.Cancelled)
	}
	printf(out, "consolidation %s\n", cons)
	if len(d.Drains) == 0 {
		return
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "POD\tPOOL\tREASON\tPHASE\tPOD PHASE\tPARTICIPANTS\tRATE\tSTARTED")
	for _, x := range d.Drains {
		pp := x.PodPhase
		if pp == "" {
			pp = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d of %d\t%g/s\t%s ago\n", x.Pod, x.Pool, x.Reason, x.Phase, pp,
			x.Participants, x.ParticipantsAtStart, x.Rate, now.Sub(x.StartedAt).Round(time.Second))
	}
	_ = w.Flush()
}
