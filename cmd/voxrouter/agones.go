package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"

	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/router/agonesalloc"
)

// Allocator kinds (--allocator).
const (
	allocNone       = "none"
	allocKubernetes = "kubernetes"
	allocService    = "allocator-service"
)

// agonesFlags choose how the router allocates pods and watches their
// GameServers.
type agonesFlags struct {
	allocator  string
	pool       string
	fleet      string
	namespace  string
	kubeconfig string
	url        string
	cert, key  string
	ca         string
	watch      bool
}

func (a *agonesFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.allocator, "allocator", allocNone,
		"how pods are allocated through Agones: kubernetes (GameServerAllocation through the Kubernetes\nAPI: in-cluster service account, or --kubeconfig), allocator-service (the agones-allocator\nservice, REST over mutual TLS: --allocator-url, -cert, -key, -ca), or none (static mode: the\npods that report are the pool; no Kubernetes).")
	fs.StringVar(&a.pool, "pool", "default", "the router's name of the pool its allocator fills (voxd's --pool).")
	fs.StringVar(&a.fleet, "fleet", "vox", "the Agones Fleet to allocate from and watch (label agones.dev/fleet).")
	fs.StringVar(&a.namespace, "namespace", "",
		"the Fleet's namespace (default: the --kubeconfig context's, else the router pod's own, else default).")
	fs.StringVar(&a.kubeconfig, "kubeconfig", "",
		"kubeconfig file, to reach the Kubernetes API from outside the cluster (default: the pod's\nservice account).")
	fs.StringVar(&a.url, "allocator-url", "", "the agones-allocator service: https://HOST[:PORT].")
	fs.StringVar(&a.cert, "allocator-cert", "", "the router's client certificate for the allocator service (PEM file).")
	fs.StringVar(&a.key, "allocator-key", "", "the key of --allocator-cert (PEM file).")
	fs.StringVar(&a.ca, "allocator-ca", "",
		"CA certificates that sign the allocator service's certificate (PEM file; default: the system's).")
	fs.BoolVar(&a.watch, "gameserver-watch", true,
		"watch the Fleet's GameServers (with --allocator kubernetes, or allocator-service inside a\ncluster or with --kubeconfig): one being deleted or Shutdown leaves placement at once.")
}

// check validates the flags (nothing is contacted).
func (a *agonesFlags) check() error {
	switch a.allocator {
	case allocNone:
		return nil
	case allocKubernetes:
	case allocService:
		if a.url == "" || a.cert == "" || a.key == "" {
			return errors.New("--allocator allocator-service needs --allocator-url, --allocator-cert and --allocator-key")
		}
	default:
		return fmt.Errorf("--allocator %q: want kubernetes, allocator-service or none", a.allocator)
	}
	if a.fleet == "" {
		return fmt.Errorf("--allocator %s needs --fleet", a.allocator)
	}
	if a.namespace == "" {
		a.namespace = agonesalloc.Namespace(a.kubeconfig)
	}
	return nil
}

// build makes the allocator (nil for none) and the Kubernetes client the
// GameServer watch uses (nil: no watch). Nothing is contacted: a
// Kubernetes API or allocator service that is down shows in allocations
// and in the watch's retries, never here. Its errors are configuration
// errors.
func (a *agonesFlags) build(log *slog.Logger) (router.Allocator, dynamic.Interface, error) {
	fleet := agonesalloc.Fleet{Name: a.fleet, Namespace: a.namespace}
	switch a.allocator {
	case allocKubernetes:
		kube, err := agonesalloc.NewDynamicClient(a.kubeconfig)
		if err != nil {
			return nil, nil, err
		}
		alloc, err := agonesalloc.NewKubernetes(kube, fleet)
		if err != nil {
			return nil, nil, err
		}
		if !a.watch {
			kube = nil
		}
		return alloc, kube, nil
	case allocService:
		alloc, err := agonesalloc.NewService(agonesalloc.ServiceConfig{URL: a.url, Fleet: fleet,
			CertFile: a.cert, KeyFile: a.key, CAFile: a.ca})
		if err != nil {
			return nil, nil, err
		}
		if !a.watch {
			return alloc, nil, nil
		}
		kube, err := agonesalloc.NewDynamicClient(a.kubeconfig)
		if err != nil {
			// Outside a cluster without a kubeconfig: allocate, do not watch.
			log.Warn("no GameServer watch: no Kubernetes API to watch from", "err", err)
			return alloc, nil, nil
		}
		return alloc, kube, nil
	}
	return nil, nil, nil
}

// startWatch runs the GameServer watch feeding r until ctx ends; the
// returned channel closes when it has stopped. Its failures are logged and
// retried: the router keeps placing from the pods' reports meanwhile.
func (a *agonesFlags) startWatch(ctx context.Context, kube dynamic.Interface, r *router.Router, log *slog.Logger) (<-chan struct{}, error) {
	done := make(chan struct{})
	if kube == nil {
		close(done)
		return done, nil
	}
	// client-go logs through klog: send it to our logger.
	klog.SetSlogLogger(log.With("component", "client-go"))
	w, err := agonesalloc.NewWatch(agonesalloc.WatchConfig{Client: kube,
		Fleet: agonesalloc.Fleet{Name: a.fleet, Namespace: a.namespace}, OnEvent: r.ObserveGameServer, Logger: log})
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	go func() {
		// Say once when the first list is in, or that it is late.
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		late := time.After(10 * time.Second)
		for {
			select {
			case <-ctx.Done():
				return
			case <-late:
				log.Warn("GameServer watch: no list yet; placement goes on from the pods' reports", "fleet", a.fleet, "namespace", a.namespace)
				late = nil
			case <-t.C:
				if w.Synced() {
					log.Info("GameServer watch synced", "fleet", a.fleet, "namespace", a.namespace)
					return
				}
			}
		}
	}()
	return done, nil
}
