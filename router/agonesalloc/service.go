package agonesalloc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/voxfleet/vox/router"
)

// DefaultServiceTimeout bounds one call to the allocator service: its
// batching alone takes up to 500 ms.
const DefaultServiceTimeout = 10 * time.Second

// ServiceConfig configures the agones-allocator service allocator.
type ServiceConfig struct {
	// URL of the service: https://HOST[:PORT]; the path
	// /gameserverallocation is added unless URL already ends with it.
	URL string
	// Fleet to allocate from.
	Fleet Fleet
	// CertFile and KeyFile are the router's client certificate and key
	// (PEM), read at each TLS handshake, so a rotated Secret is picked up
	// by the next connection. Both are required: the service refuses a
	// client without a certificate during the handshake.
	CertFile, KeyFile string
	// CAFile holds the CA certificates (PEM) that sign the service's
	// certificate (the allocator's own CA, usually); empty: the system's.
	CAFile string
	// Timeout bounds one allocation (DefaultServiceTimeout when 0).
	Timeout time.Duration
}

// Service allocates through the agones-allocator service: REST over mutual
// TLS, POST /gameserverallocation. It is safe for concurrent use.
type Service struct {
	url    string
	fleet  Fleet
	client *http.Client
}

var _ router.Allocator = (*Service)(nil)

// NewService returns an allocator for the allocator service of cfg. It
// checks the CA and the client key pair now; the service itself is not
// called.
func NewService(cfg ServiceConfig) (*Service, error) {
	f, err := cfg.Fleet.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("agonesalloc: allocator service URL %q: want https://HOST[:PORT]", cfg.URL)
	}
	if !strings.HasSuffix(u.Path, "/gameserverallocation") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/gameserverallocation"
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("agonesalloc: the allocator service needs a client certificate and key (mutual TLS)")
	}
	if _, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile); err != nil {
		return nil, fmt.Errorf("agonesalloc: allocator service client certificate: %w", err)
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("agonesalloc: client certificate: %w", err)
			}
			return &c, nil
		},
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("agonesalloc: allocator service CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("agonesalloc: allocator service CA %s: no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultServiceTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 16
	return &Service{url: u.String(), fleet: f, client: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// Name implements router.Allocator.
func (s *Service) Name() string { return "allocator-service" }

// ServiceRequest is the allocator service's AllocationRequest
// (proto/allocation/allocation.proto) as its REST gateway reads it: int64
// fields are JSON strings, enums their names. It is
// deploy/agones/allocator-request.json.
type ServiceRequest struct {
	Namespace           string                     `json:"namespace"`
	GameServerSelectors []ServiceSelector          `json:"gameServerSelectors"`
	Scheduling          string                     `json:"scheduling"`
	Priorities          []ServicePriority          `json:"priorities"`
	Counters            map[string]ServiceCounterA `json:"counters"`
}

// ServiceSelector is one of gameServerSelectors (matchLabels only: the
// service has no matchExpressions).
type ServiceSelector struct {
	MatchLabels     map[string]string          `json:"matchLabels"`
	GameServerState string                     `json:"gameServerState"` // ALLOCATED, READY
	Counters        map[string]ServiceCounterS `json:"counters"`
}

// ServiceCounterS is a selector's counter condition.
type ServiceCounterS struct {
	MinAvailable string `json:"minAvailable"`
}

// ServicePriority orders the matching GameServers.
type ServicePriority struct {
	Type  string `json:"type"`
	Key   string `json:"key"`
	Order string `json:"order"`
}

// ServiceCounterA is the counter change the allocation makes.
type ServiceCounterA struct {
	Action string `json:"action"`
	Amount string `json:"amount"`
}

// Request is what Allocate posts for req.
func (s *Service) Request(req router.AllocationRequest) ServiceRequest {
	labels := s.fleet.matchLabels(req)
	sel := func(state string) ServiceSelector {
		return ServiceSelector{MatchLabels: labels, GameServerState: state,
			Counters: map[string]ServiceCounterS{s.fleet.Counter: {MinAvailable: "1"}}}
	}
	selectors := []ServiceSelector{sel(strings.ToUpper(stateAllocated)), sel(strings.ToUpper(stateReady))}
	if req.ReadyOnly {
		selectors = []ServiceSelector{sel(strings.ToUpper(stateReady))} // the refill loop: a pod not in its pool yet
	}
	return ServiceRequest{
		Namespace:           s.fleet.Namespace,
		GameServerSelectors: selectors,
		Scheduling:          scheduling,
		Priorities:          []ServicePriority{{Type: priorityType, Key: s.fleet.Counter, Order: priorityOrder}},
		Counters:            map[string]ServiceCounterA{s.fleet.Counter: {Action: counterAction, Amount: "1"}},
	}
}

// serviceAnswer is the part of AllocationResponse the router reads.
type serviceAnswer struct {
	GameServerName string `json:"gameServerName"`
	Address        string `json:"address"`
	Ports          []port `json:"ports"`
}

// serviceError is the REST gateway's error body (a google.rpc.Status).
type serviceError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// maxAnswer bounds the answer's size.
const maxAnswer = 1 << 20

// Allocate implements router.Allocator: one POST. 200 is an allocation;
// 429 (ResourceExhausted: nothing free) and 409 (Aborted: contention), or
// any status whose body carries those gRPC codes, wrap
// router.ErrAllocRetry; no connection, a failed TLS handshake (the
// service refusing the certificate, or its own not verifying), 401, 403,
// 502, 503 and 504 wrap router.ErrAllocatorDown. Any other answer is a
// failure of the request.
func (s *Service) Allocate(ctx context.Context, req router.AllocationRequest) (router.Allocation, error) {
	start := time.Now()
	body, err := json.Marshal(s.Request(req))
	if err != nil {
		return router.Allocation{}, fmt.Errorf("agonesalloc: allocator service: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return router.Allocation{}, fmt.Errorf("agonesalloc: allocator service: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return router.Allocation{}, fmt.Errorf("agonesalloc: allocator service: %w", err)
		}
		return router.Allocation{}, fmt.Errorf("agonesalloc: allocator service: %w: %w", router.ErrAllocatorDown, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return router.Allocation{}, fmt.Errorf("agonesalloc: allocator service: reading the answer: %w: %w", router.ErrAllocatorDown, err)
	}
	if resp.StatusCode != http.StatusOK {
		return router.Allocation{}, serviceErr(resp.StatusCode, b)
	}
	var a serviceAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return router.Allocation{}, fmt.Errorf("agonesalloc: allocator service: answer: %w", err)
	}
	if a.GameServerName == "" || a.Address == "" {
		return router.Allocation{}, fmt.Errorf("agonesalloc: allocator service: answer without gameServerName or address (%q, %q)", a.GameServerName, a.Address)
	}
	p, err := media(a.Ports, s.fleet.PortName)
	if err != nil {
		return router.Allocation{}, fmt.Errorf("%w (GameServer %s)", err, a.GameServerName)
	}
	return router.Allocation{GameServer: a.GameServerName, Address: a.Address, Port: p, Took: time.Since(start)}, nil
}

// gRPC codes the REST gateway puts in an error body's "code".
const (
	grpcResourceExhausted = 8  // UnAllocated: nothing free
	grpcAborted           = 10 // Contention
)

// serviceErr classifies an answer other than 200. The gRPC code in the
// body decides first: the allocator's --http-unallocated-status-code may
// have moved UnAllocated off 429.
func serviceErr(code int, body []byte) error {
	var e serviceError
	msg := strconv.Itoa(code)
	parsed := json.Unmarshal(body, &e) == nil
	if parsed && e.Message != "" {
		msg += ": " + e.Message
	}
	if parsed && (e.Code == grpcResourceExhausted || e.Code == grpcAborted) {
		return fmt.Errorf("agonesalloc: allocator service: %s: %w", msg, router.ErrAllocRetry)
	}
	switch code {
	case http.StatusTooManyRequests, http.StatusConflict:
		return fmt.Errorf("agonesalloc: allocator service: %s: %w", msg, router.ErrAllocRetry)
	case http.StatusUnauthorized, http.StatusForbidden,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Errorf("agonesalloc: allocator service: %s: %w", msg, router.ErrAllocatorDown)
	}
	return fmt.Errorf("agonesalloc: allocator service: %s", msg)
}
