//go:build linux

package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Result is one parsed "RESULT <kind> k=v k=v ..." line, as printed by
// udpbase's fwd/gen/gogen/gofwd and by vox's netfwd.
type Result struct {
	Kind   string            `json:"kind"`
	Line   string            `json:"line"`
	Fields map[string]string `json:"-"`
}

// ParseResult finds exactly one "RESULT <kind> ..." line in out and
// splits it into k=v fields. It is strict: no line, several lines, a token
// without '=', an empty key or a duplicate key are errors.
func ParseResult(out, kind string) (Result, error) {
	var found []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "RESULT" && f[1] == kind {
			found = append(found, line)
		}
	}
	switch len(found) {
	case 0:
		return Result{}, fmt.Errorf("no \"RESULT %s\" line in output%s", kind, tailNote(out))
	case 1:
	default:
		return Result{}, fmt.Errorf("%d \"RESULT %s\" lines in output, want exactly one", len(found), kind)
	}
	r := Result{Kind: kind, Line: strings.TrimSpace(found[0]), Fields: map[string]string{}}
	for _, tok := range strings.Fields(found[0])[2:] {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			return Result{}, fmt.Errorf("RESULT %s: malformed token %q (want key=value) in %q", kind, tok, r.Line)
		}
		if _, dup := r.Fields[k]; dup {
			return Result{}, fmt.Errorf("RESULT %s: duplicate key %q in %q", kind, k, r.Line)
		}
		r.Fields[k] = v
	}
	return r, nil
}

func tailNote(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return " (output was empty)"
	}
	if len(out) > 400 {
		out = "..." + out[len(out)-400:]
	}
	return ":\n" + out
}

// Num returns field key as a finite, non-negative number.
func (r Result) Num(key string) (float64, error) {
	v, ok := r.Fields[key]
	if !ok {
		return 0, fmt.Errorf("RESULT %s: missing key %q in %q", r.Kind, key, r.Line)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("RESULT %s: %s=%q is not a number in %q", r.Kind, key, v, r.Line)
	}
	if f < 0 {
		return 0, fmt.Errorf("RESULT %s: %s=%q is negative in %q", r.Kind, key, v, r.Line)
	}
	return f, nil
}

// OptNum is Num for optional fields: nil when the key is absent.
func (r Result) OptNum(key string) (*float64, error) {
	if _, ok := r.Fields[key]; !ok {
		return nil, nil
	}
	f, err := r.Num(key)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// nums reads several required numeric fields at once.
func (r Result) nums(keys ...string) ([]float64, error) {
	out := make([]float64, len(keys))
	for i, k := range keys {
		v, err := r.Num(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// jiffies is one cpu line of /proc/stat: busy and total time.
type jiffies struct{ busy, total uint64 }

// ParseProcStat returns busy/total jiffies for every "cpuN" line of
// /proc/stat (the aggregate "cpu" line is skipped). Busy = the first 8
// columns minus idle and iowait.
func ParseProcStat(text string) (map[string]jiffies, error) {
	res := map[string]jiffies{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat: bad %s line %q", f[0], line)
			}
			v[i] = n
		}
		var total uint64
		for _, n := range v {
			total += n
		}
		res[f[0]] = jiffies{busy: total - v[3] - v[4], total: total}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("/proc/stat: no cpuN lines")
	}
	return res, nil
}

// Utilization is the busy percentage (0.1 resolution) of every cpu between
// two /proc/stat snapshots.
func Utilization(a, b map[string]jiffies) map[string]float64 {
	out := map[string]float64{}
	for cpu, y := range b {
		x, ok := a[cpu]
		if !ok || y.total < x.total || y.busy < x.busy {
			continue
		}
		dt := y.total - x.total
		if dt == 0 {
			dt = 1
		}
		out[cpu] = math.Round(1000*float64(y.busy-x.busy)/float64(dt)) / 10
	}
	return out
}
