package admin

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/webui"
)

//go:embed ui
var uiFiles embed.FS

// PodInfo is what the pod page (/ui/) shows beyond /v1/status: the pod's
// Agones state and what it last reported to the fleet router. voxd sets
// it with SetPodInfo; without it the page says "standalone".
type PodInfo struct {
	// Agones is the Agones mode ("on", "off"); GameServerState the
	// GameServer's state from the watch, empty without Agones.
	Agones          string `json:"agones"`
	GameServerState string `json:"gameserver_state,omitempty"`
	// Router is the router the pod reports to, empty if none;
	// LastReport the last report built for it (nil before the first).
	Router     string         `json:"router,omitempty"`
	LastReport *api.PodReport `json:"last_report,omitempty"`
}

// SetPodInfo sets the function the pod page's GET /ui/pod.json calls (it
// must be cheap and safe from any goroutine).
func (s *Server) SetPodInfo(f func() PodInfo) { s.podInfo.Store(&f) }

// uiRoutes serves the pod page at /ui/ (package internal/webui) without
// the token, and /ui/pod.json (PodInfo) behind the same protection as
// /v1. /ui redirects to /ui/.
func (s *Server) uiRoutes(r chi.Router) {
	files, _ := fs.Sub(uiFiles, "ui")
	h := http.StripPrefix("/ui", webui.MustHandler(webui.Page{
		Title: "voxd: this pod", Files: files, Script: "voxd.js",
	}))
	r.Get("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently).ServeHTTP)
	r.With(s.guard).Get("/ui/pod.json", s.Wrap(func(w http.ResponseWriter, _ *http.Request) error {
		info := PodInfo{Agones: "off"}
		if f := s.podInfo.Load(); f != nil {
			info = (*f)()
		}
		return WriteJSON(w, http.StatusOK, info)
	}))
	r.Get("/ui/*", h.ServeHTTP)
}
