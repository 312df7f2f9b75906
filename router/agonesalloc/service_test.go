package agonesalloc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/voxfleet/vox/router"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate for a server (with IP SANs) or a client,
// returning its certificate and key in PEM.
func (ca *testCA) issue(t testing.TB, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func write(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// allocatorServer is an httptest TLS server that, like agones-allocator,
// requires a client certificate signed by ca.
func allocatorServer(t testing.TB, ca *testCA, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, "agones-allocator", true)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// serviceFiles writes a client certificate from ca and the CA file of the
// server's CA; it returns the ServiceConfig for url.
func serviceFiles(t testing.TB, url string, clientCA, serverCA *testCA) ServiceConfig {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := clientCA.issue(t, "voxrouter", false)
	return ServiceConfig{URL: url, Fleet: Fleet{Name: "vox", Namespace: "voice"},
		CertFile: write(t, dir, "tls.crt", certPEM), KeyFile: write(t, dir, "tls.key", keyPEM),
		CAFile: write(t, dir, "ca.crt", serverCA.pem), Timeout: 5 * time.Second}
}

// TestServiceAllocate: the request is allocator-request.json, the answer's
// name, address and media port are read; 429 and 409 mean retry; 401, 403,
// 503 mean down; other codes are the request's failure.
func TestServiceAllocate(t *testing.T) {
	ca := newCA(t, "allocator-ca")
	var status int
	var answer string
	var got []byte
	ts := allocatorServer(t, ca, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/gameserverallocation" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "wrong route", http.StatusNotFound)
			return
		}
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "voxrouter" {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		got, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	})
	s, err := NewService(serviceFiles(t, ts.URL, ca, ca))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	status = http.StatusOK
	answer = `{"gameServerName":"vox-hb25f-7n5sm","ports":[{"name":"metrics","port":9000},{"name":"media","port":7365}],"address":"203.0.113.7",
"addresses":[{"type":"InternalIP","address":"203.0.113.7"}],"nodeName":"node-0","source":"local",
"metadata":{"labels":{"agones.dev/fleet":"vox"},"annotations":{}},"counters":{"sessions":{"count":"1","capacity":"200"}}}`
	a, err := s.Allocate(ctx, accepting)
	if err != nil || a.GameServer != "vox-hb25f-7n5sm" || a.Address != "203.0.113.7" || a.Port != 7365 || a.Took <= 0 {
		t.Fatalf("allocation: %+v, %v", a, err)
	}
	// What was posted is deploy/agones/allocator-request.json exactly.
	b, err := os.ReadFile("../../deploy/agones/allocator-request.json")
	if err != nil {
		t.Fatal(err)
	}
	var want, sent ServiceRequest
	for _, x := range []struct {
		b []byte
		v *ServiceRequest
	}{{b, &want}, {got, &sent}} {
		dec := json.NewDecoder(bytes.NewReader(x.b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(x.v); err != nil {
			t.Fatalf("%s: %v", x.b, err)
		}
	}
	want.Namespace = "voice" // the file leaves it to the deployment
	if !reflect.DeepEqual(sent, want) {
		t.Errorf("posted\n%s\nwant allocator-request.json\n%+v", got, want)
	}

	for _, c := range []struct {
		status      int
		body        string
		down, retry bool
	}{
		{http.StatusTooManyRequests, `{"code":8,"message":"there is no available GameServer to allocate","details":[]}`, false, true},
		{http.StatusConflict, `{"code":10,"message":"contention","details":[]}`, false, true},
		{http.StatusForbidden, `{"code":7,"message":"namespace not allowed"}`, true, false},
		{http.StatusUnauthorized, ``, true, false},
		{http.StatusServiceUnavailable, `upstream connect error`, true, false},
		{http.StatusBadRequest, `{"code":3,"message":"bad selector"}`, false, false},
		{http.StatusInternalServerError, `{"code":2,"message":"boom"}`, false, false},
		// --http-unallocated-status-code 503: the gRPC code still says it.
		{http.StatusServiceUnavailable, `{"code":8,"message":"there is no available GameServer to allocate"}`, false, true},
	} {
		status, answer = c.status, c.body
		_, err := s.Allocate(ctx, accepting)
		if err == nil || errors.Is(err, router.ErrAllocatorDown) != c.down || errors.Is(err, router.ErrAllocRetry) != c.retry {
			t.Errorf("HTTP %d: %v, want down %v retry %v", c.status, err, c.down, c.retry)
		}
	}
	status, answer = http.StatusOK, `{"gameServerName":"vox-1","address":"203.0.113.7","ports":[{"name":"game","port":7001}]}`
	if _, err := s.Allocate(ctx, accepting); err == nil || errors.Is(err, router.ErrAllocatorDown) {
		t.Errorf("no media port: %v", err)
	}
}

// TestServiceMutualTLS: the server refuses a client without a certificate
// or with one from another CA (ErrAllocatorDown for the allocator), and the
// allocator refuses a server its CA file does not vouch for.
func TestServiceMutualTLS(t *testing.T) {
	ca := newCA(t, "allocator-ca")
	ts := allocatorServer(t, ca, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"gameServerName":"vox-1","address":"203.0.113.7","ports":[{"name":"media","port":7001}]}`)
	})
	ctx := context.Background()

	// Without a client certificate: the handshake fails.
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	if resp, err := plain.Post(ts.URL+"/gameserverallocation", "application/json", bytes.NewReader([]byte("{}"))); err == nil {
		resp.Body.Close()
		t.Fatalf("the test server answered %s without a client certificate", resp.Status)
	}
	// The right certificate: allocated.
	s, err := NewService(serviceFiles(t, ts.URL, ca, ca))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.Allocate(ctx, accepting); err != nil || a.GameServer != "vox-1" {
		t.Fatalf("with the client certificate: %+v, %v", a, err)
	}
	// A client certificate from another CA.
	other := newCA(t, "other-ca")
	s, err = NewService(serviceFiles(t, ts.URL, other, ca))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocatorDown) {
		t.Errorf("client certificate from another CA: %v, want ErrAllocatorDown", err)
	}
	// A server certificate the CA file does not vouch for.
	s, err = NewService(serviceFiles(t, ts.URL, ca, other))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocatorDown) {
		t.Errorf("unknown server CA: %v, want ErrAllocatorDown", err)
	}
	// The service gone.
	s, err = NewService(serviceFiles(t, ts.URL, ca, ca))
	if err != nil {
		t.Fatal(err)
	}
	ts.Close()
	if _, err := s.Allocate(ctx, accepting); !errors.Is(err, router.ErrAllocatorDown) {
		t.Errorf("service gone: %v, want ErrAllocatorDown", err)
	}
}

// TestNewService refuses what cannot work.
func TestNewService(t *testing.T) {
	ca := newCA(t, "ca")
	good := serviceFiles(t, "https://allocator.example:443", ca, ca)
	for name, mod := range map[string]func(*ServiceConfig){
		"http URL":     func(c *ServiceConfig) { c.URL = "http://allocator.example" },
		"no cert":      func(c *ServiceConfig) { c.CertFile = "" },
		"bad key":      func(c *ServiceConfig) { c.KeyFile = c.CAFile },
		"missing CA":   func(c *ServiceConfig) { c.CAFile = c.CAFile + ".missing" },
		"not PEM CA":   func(c *ServiceConfig) { c.CAFile = write(t, t.TempDir(), "ca", []byte("x")) },
		"no fleet":     func(c *ServiceConfig) { c.Fleet.Name = "" },
		"no namespace": func(c *ServiceConfig) { c.Fleet.Namespace = "" },
	} {
		c := good
		mod(&c)
		if _, err := NewService(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := NewService(good)
	if err != nil {
		t.Fatal(err)
	}
	if s.url != "https://allocator.example:443/gameserverallocation" {
		t.Errorf("url %s", s.url)
	}
}
