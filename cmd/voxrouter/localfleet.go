package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/voxfleet/vox/router/simfleet"
	"github.com/voxfleet/vox/sessionmgr"
)

// localFleet is the configuration of --local-fleet: voxd pods on loopback
// with a simulated Agones (package router/simfleet), for trying the
// router on a machine with nothing else.
type localFleet struct {
	pods        int
	buffer      int
	maxSessions int
	startDelay  time.Duration
	batchWait   time.Duration
}

func (l *localFleet) flags(fs *flag.FlagSet) {
	fs.IntVar(&l.pods, "local-fleet", 0,
		"start this many voxd pods on loopback with a simulated Agones (Fleet, FleetAutoscaler,\n"+
			"an allocator batching like the real one) and run in Agones mode against them (0: off).")
	fs.IntVar(&l.buffer, "local-buffer", simfleet.DefaultBuffer, "--local-fleet: the autoscaler's Ready buffer, in pods.")
	fs.IntVar(&l.maxSessions, "local-max-sessions", 50, "--local-fleet: the sessions one pod takes.")
	fs.DurationVar(&l.startDelay, "local-start-delay", simfleet.DefaultStartDelay, "--local-fleet: how long a new pod takes to be Ready.")
	fs.DurationVar(&l.batchWait, "local-batch-wait", simfleet.DefaultBatchWait, "--local-fleet: the allocator's batch wait.")
}

func (l *localFleet) validate() error {
	if l.pods < 0 || l.pods > simfleet.DefaultMaxReplicas || l.buffer < 0 || l.maxSessions < 1 || l.startDelay < 0 || l.batchWait <= 0 {
		return fmt.Errorf("--local-fleet 0..%d, --local-buffer ≥ 0, --local-max-sessions ≥ 1, --local-batch-wait > 0",
			simfleet.DefaultMaxReplicas)
	}
	return nil
}

// start makes the fleet (its allocator runs; its pods start with run).
func (l *localFleet) start(c *config, log *slog.Logger) (*simfleet.Fleet, error) {
	return simfleet.New(simfleet.Config{Pool: c.router.Pool, Replicas: l.pods, Buffer: l.buffer, StartDelay: l.startDelay,
		BatchWait: l.batchWait, ReportToken: c.reportToken, AdminToken: c.podToken,
		Limits: sessionmgr.Limits{MaxSessions: l.maxSessions, MaxParticipants: l.maxSessions * 8}, Logger: log})
}

// usage tells how to use the router just started over the local fleet.
func (l *localFleet) usage(w io.Writer, addr string, token bool) {
	auth := ""
	if token {
		auth = ` -H "Authorization: Bearer $VOX_TOKEN"`
	}
	fmt.Fprintf(w, `
voxrouter is listening on http://%[1]s over a local fleet of %[2]d voxd pods (simulated Agones:
Ready buffer %[3]d, pods of %[4]d sessions, allocation batch wait %[5]v). Admit a participant:

  curl -s%[6]s -H 'Content-Type: application/json' -XPOST http://%[1]s/v1/sessions/team-red/participants -d '{"participant_id":"alice"}'

then: curl -s%[6]s http://%[1]s/v1/pods   (or /v1/status, /metrics; voxctl --addr %[1]s router-status)

`, addr, l.pods, l.buffer, l.maxSessions, l.batchWait, auth)
}
