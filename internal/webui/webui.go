// Package webui serves the operator pages embedded in voxd (admin, /ui/)
// and voxrouter (router, /ui/): one layout (html/template) with a token
// form, a shared stylesheet and a small plain-JavaScript library
// (static/common.js: the bearer token kept in sessionStorage, fetch with
// it, DOM building without innerHTML, a confirmation dialog), and each
// page's body and script. Everything is served from the binary: no CDN,
// no external fonts or scripts, and a Content-Security-Policy that allows
// only the page's own files.
//
// The pages themselves are served without the token; the API calls their
// scripts make carry it (Authorization: Bearer), so the API's protection
// is unchanged.
package webui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

//go:embed layout.html
var layoutHTML string

// Page is one operator page.
type Page struct {
	// Title is the page's title and heading, e.g. "voxrouter: the fleet".
	Title string
	// Files hold the page's body.html (a template defining "body") and
	// its scripts and styles, served next to the shared ones.
	Files fs.FS
	// Script is the page's own script's file name in Files, e.g. "router.js".
	Script string
}

// Handler serves p: "/" (and "/index.html") is the layout with p's body,
// common.css and common.js the shared files, anything else p.Files. Mount
// it under a prefix with http.StripPrefix. It fails when the body does not
// parse: the pages are built into the binary, so that is a programming
// error caught by the tests.
func Handler(p Page) (http.Handler, error) {
	body, err := fs.ReadFile(p.Files, "body.html")
	if err != nil {
		return nil, fmt.Errorf("webui: %w", err)
	}
	t, err := template.New("layout").Parse(layoutHTML)
	if err == nil {
		_, err = t.New("body").Parse(string(body))
	}
	if err != nil {
		return nil, fmt.Errorf("webui: %w", err)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return nil, fmt.Errorf("webui: %w", err)
	}
	index := buf.Bytes()
	shared, _ := fs.Sub(static, "static")
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" || name == "index.html" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			http.ServeContent(w, r, "index.html", started, bytes.NewReader(index))
			return
		}
		if name == "body.html" {
			http.NotFound(w, r)
			return
		}
		src := p.Files
		if name == "common.css" || name == "common.js" {
			src = shared
		}
		http.ServeFileFS(w, r, src, name)
	}), nil
}

// MustHandler is Handler for the pages built into the binaries.
func MustHandler(p Page) http.Handler {
	h, err := Handler(p)
	if err != nil {
		panic(err)
	}
	return h
}

// CheckAssets fails when a file of files would load something from
// another origin (an absolute URL in src, href, url(), fetch, or an
// @import): the pages must work without the Internet and leak nothing.
// The pages' tests call it on their files.
func CheckAssets(files fs.FS) error {
	return fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		if m := externalRef.Find(b); m != nil {
			return fmt.Errorf("webui: %s loads from elsewhere: %q", p, m)
		}
		return nil
	})
}

// externalRef finds what would load from elsewhere.
var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?\s*(https?:)?//|@import|fetch\(\s*["'](https?:)?//`)
