package agonesalloc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// The router's own cost of one allocation (client-go or the TLS client,
// encoding, decoding), against a local server that answers at once: the
// real allocator's batching (up to 500 ms) is not in it.
//
//	go test -run '^$' -bench Allocate -benchmem ./router/agonesalloc

func BenchmarkKubernetesAllocate(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, recorded)
	}))
	defer ts.Close()
	client, err := dynamic.NewForConfig(&rest.Config{Host: ts.URL, QPS: -1}) // no client-side limit: the client's cost only
	if err != nil {
		b.Fatal(err)
	}
	k, err := NewKubernetes(client, Fleet{Name: "vox", Namespace: "voice"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Allocate(ctx, accepting); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceAllocate(b *testing.B) {
	ca := newCA(b, "allocator-ca")
	ts := allocatorServer(b, ca, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"gameServerName":"vox-hb25f-7n5sm","ports":[{"name":"media","port":7365}],"address":"203.0.113.7","nodeName":"node-0","source":"local"}`)
	})
	s, err := NewService(serviceFiles(b, ts.URL, ca, ca))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Allocate(ctx, accepting); err != nil {
			b.Fatal(err)
		}
	}
}
