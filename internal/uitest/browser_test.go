package uitest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "rewrite docs/ui/*.png from this run (they are rewritten anyway when a page's sources changed)")

// needChrome finds chromium: it skips the test when missing, and fails it
// under CI=true.
func needChrome(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing (CI=true: .ci/run installs Debian's chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); the browser tests are skipped")
	return ""
}

// browser starts one headless chromium for the test and returns a tab's
// context, bounded by limit.
func browser(t *testing.T, chrome string, limit time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1366, 900),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	tctx, tcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(tcancel)
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tctx
}

// openPage loads base+"/ui/" polling every 300 ms, enters the token in
// the page's form and waits for two polls that had it.
func openPage(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(base+"/ui/?interval=300"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)),
	)
	n0 := polls(t, ctx)
	waitFor(t, 10*time.Second, "the page to poll with the token", func() bool {
		if polls(t, ctx) >= n0+2 {
			return true
		}
		t.Logf("page: %q %q", text(t, ctx, "#live"), text(t, ctx, "#notice"))
		return false
	})
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// polls is how many refreshes the page has done (body's data-polls).
func polls(t *testing.T, ctx context.Context) int {
	t.Helper()
	s := eval[string](t, ctx, `document.body.dataset.polls || "0"`)
	n, _ := strconv.Atoi(s)
	return n
}

// text is an element's text ("" when absent).
func text(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent : ""; })()`, selector)
	s := eval[string](t, ctx, js)
	return strings.TrimSpace(s)
}

// number reads the page's formatted number (en-US: "1,234.5").
func number(s string) (float64, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// waitFor polls cond every 100 ms until it holds or the bound passes.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", bound, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clickConfirm clicks a button that asks for a confirmation, then the
// dialog's Confirm.
func clickConfirm(t *testing.T, ctx context.Context, buttonID string) {
	t.Helper()
	run(t, ctx,
		chromedp.Click(chromedp.CSS("#"+buttonID)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitNotVisible(chromedp.CSS("#confirm")),
	)
}

// pageSources are the files a page is built from, relative to this
// package: the shared layout, style and script, and the page's own.
var pageSources = map[string][]string{
	"voxrouter": {"../webui", "../../router/ui"},
	"voxd":      {"../webui", "../../admin/ui"},
}

// sourcesHash hashes the page's source files (names and contents).
func sourcesHash(t *testing.T, name string) string {
	t.Helper()
	h := sha256.New()
	for _, dir := range pageSources[name] {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(p), len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// screenshot saves the page as docs/ui/name.png when the page changed
// (its sources' hash differs from docs/ui/name.sha256, which is then
// rewritten too: commit both) or with -update-screenshots, and as
// $VOX_UI_ARTIFACTS/name.png on every run when that is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	write := func(p string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs := filepath.Join("..", "..", "docs", "ui")
	sum := sourcesHash(t, name)
	old, _ := os.ReadFile(filepath.Join(docs, name+".sha256"))
	if *updateScreenshots || strings.TrimSpace(string(old)) != sum {
		write(filepath.Join(docs, name+".png"), png)
		write(filepath.Join(docs, name+".sha256"), []byte(sum+"\n"))
		t.Logf("the %s page changed: docs/ui/%s.png rewritten (commit it with %s.sha256)", name, name, name)
	}
	if d := os.Getenv("VOX_UI_ARTIFACTS"); d != "" {
		write(filepath.Join(d, name+".png"), png)
		t.Logf("screenshot %s", filepath.Join(d, name+".png"))
	}
}

// getJSON GETs base+path with the token into out; answers the status.
func getJSON(t *testing.T, base, token, path string, out any) int {
	t.Helper()
	return doJSON(t, http.MethodGet, base, token, path, nil, out)
}

func doJSON(t *testing.T, method, base, token, path string, in, out any) int {
	t.Helper()
	return doJSONWithin(t, 5*time.Second, method, base, token, path, in, out)
}

// doJSONWithin is doJSON with its own time bound.
func doJSONWithin(t *testing.T, bound time.Duration, method, base, token, path string, in, out any) int {
	t.Helper()
	var body *strings.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	} else {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, base+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: bound}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return res.StatusCode
}

// chromedpSetValue types value into an input as a user would: focus, the
// value, an input event (the page then keeps it over its refreshes).
func chromedpSetValue(selector, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.focus(); e.value = %q; e.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, selector, value)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](js)(ctx, tg)
		return err
	})
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("browser: %s: %v", js, err)
	}
	return v
}
