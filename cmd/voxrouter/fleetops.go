package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"

	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/router"
)

// opsFlags are the fleet operations' flags: the pools file, the reconnect
// budget, drains and consolidation.
type opsFlags struct {
	poolsFile string
	stateFile string
	ops       router.OpsConfig
}

func (o *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.poolsFile, "pools", "",
		"pools file (YAML or JSON): a list of pools, each a Fleet with its own allocator, weight and\nregion (docs/router.md, \"Pools\"). Exclusive with --allocator. Weights and regions changed\nthrough the API (PUT /v1/pools/{pool}) are kept in the store and win over the file.")
	fs.StringVar(&o.stateFile, "state-file", "",
		"without --redis: a file where the single replica keeps the pools' settings changed through\nthe API and its drains, so they survive its restart (with --redis they are in Redis).")
	fs.Float64Var(&o.ops.Budget, "reconnect-budget", router.DefaultReconnectBudget,
		"reconnect notices per second across every pod the router drains (consolidation, pool and\noperator drains): each pod draining gets this divided by --max-draining.")
	fs.IntVar(&o.ops.MaxDraining, "max-draining", router.DefaultMaxDraining, "most pods the router drains at once.")
	fs.DurationVar(&o.ops.Grace, "consolidate-grace", router.DefaultConsolidateGrace,
		"a pod chosen to go keeps its sessions this long (new sessions go elsewhere) before it drains.")
	fs.DurationVar(&o.ops.ConsolidateAfter, "consolidate-after", router.DefaultConsolidateAfter,
		"a pool's surplus of free slots must last this long before a pod is chosen to go.")
	fs.IntVar(&o.ops.ConsolidateMargin, "consolidate-margin", 0,
		"free session slots kept above a pool's refill target before consolidating (0: one pod's).")
	fs.Float64Var(&o.ops.ConsolidateCPU, "consolidate-cpu", router.DefaultConsolidateCPU,
		"the pods taking the moved sessions must be below this CPU percentage.")
	fs.BoolVar(&o.ops.NoConsolidation, "no-consolidation", false, "never choose pods to scale in (drains on request still run).")
	fs.DurationVar(&o.ops.PoolGrace, "pool-drain-grace", 0,
		"when a pool is drained, its pods' sessions may end by themselves this long before they drain.")
	fs.DurationVar(&o.ops.DrainDeadline, "drain-deadline", 0,
		"the hard end of a pod's drain the router starts (0: the pod's --drain-deadline).")
	fs.DurationVar(&o.ops.Window, "drain-window", 0,
		"the reconnect window of the notices of a drain the router starts (0: the pod's default).")
}

// poolFile is one pool of the --pools file.
type poolFile struct {
	Name   string   `json:"name"`
	Weight *float64 `json:"weight,omitempty"`
	Region string   `json:"region,omitempty"`
	// Allocator: kubernetes, allocator-service or none (static).
	Allocator  string `json:"allocator,omitempty"`
	Fleet      string `json:"fleet,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	URL        string `json:"allocatorURL,omitempty"`
	Cert       string `json:"allocatorCert,omitempty"`
	Key        string `json:"allocatorKey,omitempty"`
	CA         string `json:"allocatorCA,omitempty"`
	// Floor is the refill's floor of free session slots (0: the default).
	Floor int `json:"floor,omitempty"`
	// Watch the Fleet's GameServers (default true with an allocator).
	Watch *bool `json:"gameServerWatch,omitempty"`
}

// readPools reads the --pools file: each pool's flags as agonesFlags
// (checked, nothing contacted).
func readPools(file string) ([]poolFile, []agonesFlags, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("--pools: %w", err)
	}
	var doc struct {
		Pools []poolFile `json:"pools"`
	}
	if err := yaml.UnmarshalStrict(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("--pools %s: %w", file, err)
	}
	if len(doc.Pools) == 0 {
		return nil, nil, fmt.Errorf("--pools %s: no pool (want a top-level \"pools\" list)", file)
	}
	flags := make([]agonesFlags, len(doc.Pools))
	seen := map[string]bool{}
	for i, p := range doc.Pools {
		if !api.ValidID(p.Name) || seen[p.Name] {
			return nil, nil, fmt.Errorf("--pools %s: pool name %q: 1-64 of [A-Za-z0-9._-], once", file, p.Name)
		}
		seen[p.Name] = true
		if p.Weight != nil && (*p.Weight < 0 || math.IsInf(*p.Weight, 0) || math.IsNaN(*p.Weight)) {
			return nil, nil, fmt.Errorf("--pools %s: pool %q: weight %v (a finite number ≥ 0)", file, p.Name, *p.Weight)
		}
		if p.Region != "" && !api.ValidID(p.Region) {
			return nil, nil, fmt.Errorf("--pools %s: pool %q: region %q", file, p.Name, p.Region)
		}
		a := agonesFlags{allocator: p.Allocator, pool: p.Name, fleet: p.Fleet, namespace: p.Namespace,
			kubeconfig: p.Kubeconfig, url: p.URL, cert: p.Cert, key: p.Key, ca: p.CA, watch: p.Watch == nil || *p.Watch}
		if a.allocator == "" {
			a.allocator = allocNone
		}
		if a.fleet == "" {
			a.fleet = p.Name
		}
		if err := a.check(); err != nil {
			return nil, nil, fmt.Errorf("--pools %s: pool %q: %w", file, p.Name, err)
		}
		flags[i] = a
	}
	return doc.Pools, flags, nil
}

// builtPool is one pool's allocator and watch client.
type builtPool struct {
	flags agonesFlags
	kube  dynamic.Interface
}

// buildPools makes the router's pools from the --pools file.
func buildPools(file string, log *slog.Logger) ([]router.PoolConfig, []builtPool, error) {
	files, flags, err := readPools(file)
	if err != nil {
		return nil, nil, err
	}
	var confs []router.PoolConfig
	var built []builtPool
	for i, p := range files {
		alloc, kube, err := flags[i].build(log)
		if err != nil {
			return nil, nil, fmt.Errorf("--pools: pool %q: %w", p.Name, err)
		}
		confs = append(confs, router.PoolConfig{Name: p.Name, Weight: p.Weight, Region: p.Region, Allocator: alloc,
			Fleet: flags[i].fleet, Refill: router.RefillConfig{Floor: p.Floor}})
		built = append(built, builtPool{flags: flags[i], kube: kube})
	}
	return confs, built, nil
}

// checkOps validates the fleet operations' flags against the others.
func (o *opsFlags) check(a *agonesFlags) error {
	if o.poolsFile != "" && a.allocator != allocNone {
		return errors.New("--pools and --allocator are exclusive: give each pool its allocator in the file")
	}
	if !(o.ops.Budget > 0) || o.ops.MaxDraining < 1 || o.ops.Grace < 0 || o.ops.ConsolidateAfter < 0 ||
		o.ops.ConsolidateMargin < 0 || !(o.ops.ConsolidateCPU > 0) || o.ops.PoolGrace < 0 || o.ops.DrainDeadline < 0 || o.ops.Window < 0 {
		return errors.New("--reconnect-budget and --consolidate-cpu must be positive, --max-draining at least 1, durations not negative")
	}
	return nil
}
