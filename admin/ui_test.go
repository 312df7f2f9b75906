package admin

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/webui"
)

// TestUI: the pod page is served without the token, /ui redirects to it,
// and /ui/pod.json has /v1's protection and says what SetPodInfo gives.
func TestUI(t *testing.T) {
	ts := newTestServer(t, Config{})
	r := ts.do(t, request{method: http.MethodGet, path: "/ui/", header: map[string]string{"Authorization": ""}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "voxd: this pod") || !strings.Contains(string(r.body), `src="voxd.js"`) {
		t.Fatalf("GET /ui/ without a token: %d %.200s", r.status, r.body)
	}
	for _, p := range []string{"/ui/voxd.js", "/ui/common.js", "/ui/common.css"} {
		if r := ts.do(t, request{method: http.MethodGet, path: p, header: map[string]string{"Authorization": ""}}); r.status != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
	if r := ts.do(t, request{method: http.MethodGet, path: "/ui"}); r.status != http.StatusMovedPermanently || r.header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d %q", r.status, r.header.Get("Location"))
	}
	if r := ts.do(t, request{method: http.MethodGet, path: "/ui/pod.json", header: map[string]string{"Authorization": ""}}); r.status != http.StatusUnauthorized {
		t.Errorf("GET /ui/pod.json without a token: %d", r.status)
	}
	var info PodInfo
	r = ts.do(t, request{method: http.MethodGet, path: "/ui/pod.json"})
	if err := json.Unmarshal(r.body, &info); r.status != http.StatusOK || err != nil || info.Agones != "off" || info.LastReport != nil {
		t.Errorf("GET /ui/pod.json before SetPodInfo: %d %+v %v", r.status, info, err)
	}
	ts.SetPodInfo(func() PodInfo {
		return PodInfo{Agones: "on", GameServerState: "Allocated", Router: "http://router", LastReport: &api.PodReport{Name: "pod-1", Seq: 7}}
	})
	r = ts.do(t, request{method: http.MethodGet, path: "/ui/pod.json"})
	if err := json.Unmarshal(r.body, &info); err != nil || info.GameServerState != "Allocated" || info.LastReport == nil || info.LastReport.Seq != 7 {
		t.Errorf("GET /ui/pod.json: %s %v", r.body, err)
	}
	files, _ := fs.Sub(uiFiles, "ui")
	if err := webui.CheckAssets(files); err != nil {
		t.Error(err)
	}
}

// TestUIOpenAPI: without a token (loopback only) the page's GETs pass
// the host check; a request with an Origin is still refused.
func TestUIOpenAPI(t *testing.T) {
	ts := newTestServer(t, Config{Addr: "127.0.0.1:0"})
	if r := ts.do(t, request{method: http.MethodGet, path: "/ui/pod.json", header: map[string]string{"Authorization": ""}}); r.status != http.StatusOK {
		t.Errorf("GET /ui/pod.json on an open loopback API: %d", r.status)
	}
	if r := ts.do(t, request{method: http.MethodGet, path: "/ui/pod.json", header: map[string]string{"Authorization": "", "Origin": "http://evil.example"}}); r.status != http.StatusForbidden {
		t.Errorf("GET /ui/pod.json with an Origin: %d", r.status)
	}
}
