package agonesalloc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/voxfleet/vox/router"
)

// DefaultResync is how often the watch replays every GameServer it holds
// (a missed event is caught up then).
const DefaultResync = 5 * time.Minute

// WatchConfig configures a GameServer watch.
type WatchConfig struct {
	// Client reads the GameServers (get, list, watch).
	Client dynamic.Interface
	// Fleet whose GameServers are watched (label agones.dev/fleet).
	Fleet Fleet
	// OnEvent receives every change: an add, an update, a deletion (and
	// every GameServer again at each resync). It runs on the informer's
	// goroutine, one event at a time: keep it short.
	OnEvent func(router.GameServerEvent)
	// Resync: DefaultResync when 0.
	Resync time.Duration
	// Logger: slog.Default() when nil.
	Logger *slog.Logger
}

// Watch follows a Fleet's GameServers with an informer (client-go
// tools/cache: list, watch, reconnect with backoff, resync). While the
// Kubernetes API cannot be reached it keeps retrying and the router keeps
// what it knows.
type Watch struct {
	informer cache.SharedIndexInformer
	log      *slog.Logger
	fleet    Fleet
	errors   atomic.Uint64
	down     atomic.Bool // the last list or watch call failed
}

// NewWatch returns a watch of cfg's Fleet; Run starts it.
func NewWatch(cfg WatchConfig) (*Watch, error) {
	f, err := cfg.Fleet.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Client == nil || cfg.OnEvent == nil {
		return nil, errors.New("agonesalloc: watch: a client and OnEvent are required")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// The informer dynamicinformer.NewFilteredDynamicInformer builds, made
	// here with tools/cache directly: dynamicinformer imports
	// k8s.io/client-go/informers and with it every typed clientset.
	selector := labels.Set{FleetLabel: f.Name}.String()
	res := cfg.Client.Resource(GameServers).Namespace(f.Namespace)
	w := &Watch{log: cfg.Logger, fleet: f}
	// The calls are observed here: the reflector retries a failing
	// watch-list quietly (client-go logs it at verbosity 2).
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			l, err := res.List(ctx, o)
			w.observe(ctx, err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			wi, err := res.Watch(ctx, o)
			w.observe(ctx, err)
			return wi, err
		},
	}
	// As dynamicinformer does: a client that cannot stream the initial
	// list as watch events (the fake in tests) gets a plain list.
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, cfg.Client),
		&unstructured.Unstructured{}, cache.SharedIndexInformerOptions{
			ResyncPeriod:      cfg.Resync,
			ObjectDescription: GameServers.String(),
		})
	w.informer = inf
	on := cfg.OnEvent
	_, err = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if ev, ok := eventOf(obj, false); ok {
				on(ev)
			}
		},
		UpdateFunc: func(_, obj any) {
			if ev, ok := eventOf(obj, false); ok {
				on(ev)
			}
		},
		DeleteFunc: func(obj any) {
			if ev, ok := eventOf(obj, true); ok {
				on(ev)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("agonesalloc: watch: %w", err)
	}
	err = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
		// Also the ordinary end of a watch (expired resource version):
		// the reflector lists again.
		if ctx.Err() == nil {
			w.log.Debug("agonesalloc: GameServer watch ended", "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("agonesalloc: watch: %w", err)
	}
	return w, nil
}

// Run runs the watch until ctx ends.
func (w *Watch) Run(ctx context.Context) { w.informer.RunWithContext(ctx) }

// Synced reports whether the first list has been delivered.
func (w *Watch) Synced() bool { return w.informer.HasSynced() }

// Errors counts the list and watch calls that failed so far.
func (w *Watch) Errors() uint64 { return w.errors.Load() }

// Down reports whether the last list or watch call failed.
func (w *Watch) Down() bool { return w.down.Load() }

// observe notes a list or watch call's outcome, and logs when the
// Kubernetes API stops answering and when it answers again.
func (w *Watch) observe(ctx context.Context, err error) {
	switch {
	case err == nil:
		if w.down.CompareAndSwap(true, false) {
			w.log.Info("agonesalloc: GameServer watch reconnected", "fleet", w.fleet.Name, "namespace", w.fleet.Namespace)
		}
	case ctx.Err() != nil: // stopping
	case apierrors.IsResourceExpired(err), apierrors.IsGone(err): // ordinary: the reflector lists again
	default:
		w.errors.Add(1)
		if w.down.CompareAndSwap(false, true) {
			w.log.Warn("agonesalloc: GameServer watch failing; retrying with backoff, placement goes on from the pods' reports",
				"fleet", w.fleet.Name, "namespace", w.fleet.Namespace, "err", err)
		}
	}
}

// eventOf turns an informer object into an event.
func eventOf(obj any, deleted bool) (router.GameServerEvent, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		// The deletion was missed while the watch was down: the last
		// state known, and the name from the key if there is nothing else.
		if u, ok := t.Obj.(*unstructured.Unstructured); ok {
			obj = u
		} else if _, name, err := cache.SplitMetaNamespaceKey(t.Key); err == nil && name != "" {
			return router.GameServerEvent{Name: name, Deleted: true}, true
		}
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u.GetName() == "" {
		return router.GameServerEvent{}, false
	}
	state, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return router.GameServerEvent{Name: u.GetName(), State: state,
		Deleting: u.GetDeletionTimestamp() != nil, Deleted: deleted}, true
}
