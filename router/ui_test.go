package router

import (
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/internal/webui"
)

// TestUI: the fleet page is served without the token (its API calls
// carry it), /ui redirects to it, and it loads nothing from elsewhere.
func TestUI(t *testing.T) {
	_, ts := newTestServer(t, time.Now)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string, http.Header) {
		res, err := c.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	code, body, h := get("/ui/")
	if code != http.StatusOK || !strings.Contains(body, "voxrouter: the fleet") || !strings.Contains(body, `src="router.js"`) {
		t.Fatalf("GET /ui/: %d %.200s", code, body)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
	}
	for _, p := range []string{"/ui/router.js", "/ui/common.js", "/ui/common.css"} {
		if code, _, _ := get(p); code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if code, _, h := get("/ui"); code != http.StatusMovedPermanently || h.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d %q", code, h.Get("Location"))
	}
	if code, _, _ := get("/v1/status"); code != http.StatusUnauthorized {
		t.Errorf("the API without the token: %d", code)
	}
	files, _ := fs.Sub(uiFiles, "ui")
	if err := webui.CheckAssets(files); err != nil {
		t.Error(err)
	}
}
