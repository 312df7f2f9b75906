package agonesalloc

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client-side rate limits of the router's Kubernetes client. client-go's
// defaults (5 requests/s, bursts of 10) would make the refill loop wait in
// the client during a spike; the API server's own Priority and Fairness
// still protects it (a 429 there means retry).
const (
	clientQPS   = 50
	clientBurst = 100
)

// RESTConfig returns the Kubernetes client configuration: the pod's
// service account (in-cluster) when kubeconfig is empty, else that
// kubeconfig file's current context (out-of-cluster).
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("agonesalloc: in-cluster Kubernetes config (outside a cluster, give a kubeconfig): %w", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("agonesalloc: kubeconfig %s: %w", kubeconfig, err)
		}
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	cfg.UserAgent = "voxrouter"
	return cfg, nil
}

// NewDynamicClient is dynamic.NewForConfig for RESTConfig(kubeconfig).
func NewDynamicClient(kubeconfig string) (dynamic.Interface, error) {
	cfg, err := RESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("agonesalloc: Kubernetes client: %w", err)
	}
	return c, nil
}

// serviceAccountNamespace is where Kubernetes mounts the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// PodNamespace returns the namespace the router's own pod runs in (from
// its service account mount), or "" outside a cluster.
func PodNamespace() string {
	b, err := os.ReadFile(serviceAccountNamespace)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Namespace is where the router allocates when no namespace is given: the
// current context's namespace of kubeconfig (when given), else the router
// pod's own namespace, else "default".
func Namespace(kubeconfig string) string {
	if kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
		if ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).Namespace(); err == nil && ns != "" {
			return ns
		}
	}
	if ns := PodNamespace(); ns != "" {
		return ns
	}
	return "default"
}
