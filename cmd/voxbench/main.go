// Command voxbench is vox's load and measurement tool: real clients (package
// client) admitted through the admin API, real SRTP, and per-listener
// accounting of what each one received.
//
//	voxbench steady --admin URL [--token T] --sessions N --size K --talkers M [--json] ...
//	voxbench blast  --admin URL [--token T] --sessions 1 --size 4 --talkers 1 ...
//	voxbench ramp   --admin URL [--token T] --sessions 10 --step 10 --steps 10 --max-loss 0.1 --max-p99 5ms ...
//	voxbench drain  --admin A --admin-b B [--token T] --sessions N --size K --rate R --window W --after D ...
//	voxbench route  [--router URL] --pods 20 --rate 1000 --duration 5s --spike-sessions 400 --spike-over 5s [--json] ...
//	voxbench soak   --admin URL [--pod-b CMD --admin-b URL] --server-pid PID --duration 30m --interval 1m --out soak ...
//	voxbench flood  --admin URL [--token T] --server-pid PID --rate 20000 --kinds random,forged,... [--json] ...
//
// See steady.go for the measurement and the fields of --json; drain.go for
// the drain scenario across two pods and DrainResult.
//
// Exit codes: 0 done and every objective met; 1 an objective (--max-loss,
// --max-p99; for drain a participant lost or --max-empty) missed; 2 usage
// error; 3 the run could not be set up (a pod unreachable, an admission or
// the drain request refused); 130 interrupted.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK          = 0
	exitMissed      = 1
	exitUsage       = 2
	exitSetup       = 3
	exitInterrupted = 130
)

// envPrefix makes --admin read VOXBENCH_ADMIN, --token VOXBENCH_TOKEN, ...
const envPrefix = "VOXBENCH_"

const summary = `voxbench — load and measure a vox pod with real SRTP clients.

Usage: voxbench <command> [flags]

Commands:
  steady   sessions × size participants, talkers at 50 packets/s, per-listener loss and latency
  blast    the same with the talkers sending flat out: the highest rate seen, and the loss
  ramp     steady runs with more sessions each step until loss or p99 passes its bound
  drain    load on pod A, drain A, clients follow their notices to pod B: notices, their
           peak rate, time until A is empty, participants lost (must be 0)
  route    voxrouter over a simulated Agones fleet: admission latency at a rate beside
           allocating per session, and a spike of new sessions (admissions that waited)
  fleet    the router's fleet operations with talking clients: scale-in by consolidation,
           a weighted rollout with a rollback and a pool drain, two clusters
  flood    steady beside garbage of each kind an attacker would send: loss, latency and the
           server's CPU per garbage datagram; a participant's rebinding under a forged flood
  soak     sessions coming and going for a long time, drains of a second pod: the pod's RSS,
           goroutines, fds, GC pause and CPU per packet sampled, a trend test on each

"voxbench <command> --help" explains a command's flags.

Exit codes: 0 objectives met; 1 an objective missed; 2 usage error;
3 setup failed (pod unreachable, admission refused).`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, summary)
		return exitUsage
	}
	switch args[0] {
	case "steady":
		return steadyCmd(ctx, args[1:], lookup, stdout, stderr)
	case "blast":
		return blastCmd(ctx, args[1:], lookup, stdout, stderr)
	case "ramp":
		return rampCmd(ctx, args[1:], lookup, stdout, stderr)
	case "drain":
		return drainCmd(ctx, args[1:], lookup, stdout, stderr)
	case "route":
		return routeCmd(ctx, args[1:], lookup, stdout, stderr)
	case "fleet":
		return fleetCmd(ctx, args[1:], lookup, stdout, stderr)
	case "flood":
		return floodCmd(ctx, args[1:], lookup, stdout, stderr)
	case "soak":
		return soakCmd(ctx, args[1:], lookup, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, summary)
		return exitOK
	default:
		fmt.Fprintf(stderr, "voxbench: unknown command %q\n\n%s\n", args[0], summary)
		return exitUsage
	}
}
