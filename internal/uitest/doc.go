// Package uitest drives the operator pages (voxrouter's /ui/ and voxd's
// /ui/, package internal/webui) in a real browser: Debian's chromium,
// through the DevTools protocol (github.com/chromedp/chromedp), against a
// real voxrouter over a local fleet (router/simfleet) under load and a
// real voxd binary. The tests skip when chromium is missing, and fail
// instead under CI=true (.ci/run installs it).
//
// go test ./internal/uitest -update-screenshots rewrites docs/ui/*.png;
// VOX_UI_ARTIFACTS=dir saves the screenshots there on every run.
package uitest
