// Package prometheus checks deploy/prometheus/rules.yaml and
// deploy/grafana/vox.json: promtool's own checks and unit tests of the
// rules (rules_test.yaml, synthetic series), the dashboard's JSON model,
// and that every metric either names exists on a running voxd and
// voxrouter.
package prometheus

import (
	"os"
	"os/exec"
	"testing"
)

// needPromtool finds promtool (Debian's prometheus package): the test
// skips without it, and fails under CI=true (.ci/run installs it).
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool is missing (CI=true: .ci/run installs Debian's prometheus package)")
	}
	t.Skip("promtool is not installed (apt-get install prometheus); the rules are not checked")
	return ""
}

func TestRulesCheck(t *testing.T) {
	promtool := needPromtool(t)
	out, err := exec.Command(promtool, "check", "rules", "rules.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func TestRulesUnit(t *testing.T) {
	promtool := needPromtool(t)
	out, err := exec.Command(promtool, "test", "rules", "rules_test.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
