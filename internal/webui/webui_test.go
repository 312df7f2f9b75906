package webui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func testPage() Page {
	return Page{Title: "test <page>", Script: "page.js", Files: fstest.MapFS{
		"body.html": {Data: []byte(`{{define "body"}}<p id="x">{{.Title}}</p>{{end}}`)},
		"page.js":   {Data: []byte(`"use strict";`)},
	}}
}

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestHandler(t *testing.T) {
	h := MustHandler(testPage())
	w := get(t, h, http.MethodGet, "/")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	body := w.Body.String()
	for _, want := range []string{`<title>test &lt;page&gt;</title>`, `<p id="x">test &lt;page&gt;</p>`,
		`<script src="common.js"></script>`, `<script src="page.js"></script>`, `<label for="token">`} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s", want)
		}
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	for path, ctype := range map[string]string{"/common.js": "text/javascript", "/common.css": "text/css", "/page.js": "text/javascript", "/index.html": "text/html"} {
		w := get(t, h, http.MethodGet, path)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no CSP", path)
		}
	}
	for _, path := range []string{"/body.html", "/nope.js", "/../../etc/passwd"} {
		if w := get(t, h, http.MethodGet, path); w.Code != http.StatusNotFound && w.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 404 (or 400 for a path with ..)", path, w.Code)
		}
	}
	if w := get(t, h, http.MethodPost, "/"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w := get(t, h, http.MethodHead, "/common.js"); w.Code != http.StatusOK {
		t.Errorf("HEAD: %d", w.Code)
	}
}

func TestHandlerBadBody(t *testing.T) {
	p := testPage()
	p.Files = fstest.MapFS{"body.html": {Data: []byte(`{{define "body"}}{{.Nope`)}}
	if _, err := Handler(p); err == nil {
		t.Error("a body that does not parse was accepted")
	}
	p.Files = fstest.MapFS{}
	if _, err := Handler(p); err == nil {
		t.Error("no body.html was accepted")
	}
}

// TestNoExternalResources: the shared files load nothing from elsewhere
// (the pages' own files are checked by their packages' tests with
// CheckAssets).
func TestNoExternalResources(t *testing.T) {
	if err := CheckAssets(static); err != nil {
		t.Error(err)
	}
	if externalRef.MatchString(layoutHTML) {
		t.Errorf("layout.html loads something from elsewhere: %q", externalRef.FindString(layoutHTML))
	}
	if err := CheckAssets(fstest.MapFS{"x.js": {Data: []byte(`fetch("https://cdn.example/x")`)}}); err == nil {
		t.Error("CheckAssets missed an external fetch")
	}
}

var _ fs.FS = static
