package router

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/voxfleet/vox/internal/webui"
)

//go:embed ui
var uiFiles embed.FS

// uiRoutes serves the fleet page at /ui/ (package internal/webui): the
// page is served without the token, the API calls its script makes carry
// it. /ui redirects to /ui/.
func (s *Server) uiRoutes(m chi.Router) {
	files, _ := fs.Sub(uiFiles, "ui")
	h := http.StripPrefix("/ui", webui.MustHandler(webui.Page{
		Title: "voxrouter: the fleet", Files: files, Script: "router.js",
	}))
	m.Get("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently).ServeHTTP)
	m.Get("/ui/*", h.ServeHTTP)
}
