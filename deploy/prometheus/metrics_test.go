package prometheus

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/router/simfleet"
	"github.com/voxfleet/vox/sessionmgr"
)

// metricName finds the vox_* metric names in a rule or query (recording
// rules are vox:..., so not matched).
var metricName = regexp.MustCompile(`\bvox_[a-z0-9_]+`)

// namesIn reads the vox_* names a file uses.
func namesIn(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range metricName.FindAllString(string(b), -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// scrape GETs a /metrics and answers the names of its samples.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", url, res.StatusCode)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// TestMetricsExist runs a voxrouter over a local fleet of voxd pods
// (router/simfleet, as voxrouter --local-fleet: the warm pool's metrics
// exist only with an allocator), makes the requests that create the
// labelled series (an admission, a refused request), scrapes the router
// and a pod, and checks every name in rules.yaml and the dashboard.
func TestMetricsExist(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const token, reportToken, podToken = "m-token", "m-report", "m-pod"
	fleet, err := simfleet.New(simfleet.Config{Replicas: 1, Buffer: 1, StartDelay: 100 * time.Millisecond,
		BatchWait: 20 * time.Millisecond, ReportToken: reportToken, AdminToken: podToken, Pool: "local",
		Limits: sessionmgr.Limits{MaxSessions: 4, MaxParticipants: 16}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	r, err := router.New(router.Config{Allocator: fleet.Allocator(), Pool: "local", PodToken: podToken, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.ServerConfig{Addr: "127.0.0.1:0", Token: token, ReportToken: reportToken, Logger: quiet}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	base := "http://" + srv.Addr()
	if err := fleet.Run(base); err != nil {
		t.Fatal(err)
	}

	// An admission (bounded wait for the pool's first pod), and a request
	// without the token on the router and on the pod.
	post := func(url, tok string) int {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"participant_id":"alice"}`))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for post(base+"/v1/sessions/metrics-test/participants", token) != http.StatusCreated {
		if time.Now().After(deadline) {
			t.Fatal("no admission through the router within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A removal: vox_participants_removed_total has a series per reason
	// seen.
	del, _ := http.NewRequest(http.MethodDelete, base+"/v1/sessions/metrics-test/participants/alice", nil)
	del.Header.Set("Authorization", "Bearer "+token)
	if res, err := http.DefaultClient.Do(del); err != nil || res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusOK {
		t.Fatalf("remove the participant: %v %v", err, res)
	} else {
		res.Body.Close()
	}
	if code := post(base+"/v1/sessions/x/participants", ""); code != http.StatusUnauthorized {
		t.Fatalf("router without a token: HTTP %d", code)
	}
	pods := fleet.Pods()
	var podURL string
	for _, p := range pods {
		if p.AdminURL != "" {
			podURL = p.AdminURL
			break
		}
	}
	if podURL == "" {
		t.Fatal("no pod with an admin URL")
	}
	if code := post(podURL+"/v1/sessions/x/participants", ""); code != http.StatusUnauthorized {
		t.Fatalf("pod without a token: HTTP %d", code)
	}

	have := scrape(t, base+"/metrics")
	for n := range scrape(t, podURL+"/metrics") {
		have[n] = true
	}
	for _, file := range []string{"rules.yaml", "rules_test.yaml", "../grafana/vox.json"} {
		for _, n := range namesIn(t, file) {
			if have[n] {
				continue
			}
			t.Errorf("%s uses %s, which neither voxrouter's nor voxd's /metrics serves", file, n)
		}
	}
}

// TestDashboardModel: vox.json is a Grafana dashboard model importable as
// is: valid JSON, a datasource variable every panel and query uses, unique
// panel ids, no hard-coded datasource uid.
func TestDashboardModel(t *testing.T) {
	b, err := os.ReadFile("../grafana/vox.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		ID            *int   `json:"id"`
		Templating    struct {
			List []struct {
				Name, Type string
				Query      any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				Type, UID string
			} `json:"datasource"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr       string `json:"expr"`
				Datasource *struct {
					Type, UID string
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("vox.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 || d.ID != nil {
		t.Errorf("uid %q title %q schemaVersion %d id %v: want a uid, a title, a recent schema and a null id", d.UID, d.Title, d.SchemaVersion, d.ID)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" && v.Query == "prometheus" {
			dsVar = true
		}
	}
	if !dsVar {
		t.Error("no datasource variable (type datasource, query prometheus, name datasource)")
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" || q.Expr == "" {
				t.Errorf("panel %q: query %+v", p.Title, q)
			}
		}
	}
	if queries < 20 {
		t.Errorf("%d queries: the dashboard lost its panels?", queries)
	}
}
