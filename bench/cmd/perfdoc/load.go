package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/voxfleet/vox/bench/internal/report"
)

// Facts is machine.json: the machine and the source the run measured.
type Facts struct {
	Started   string `json:"started"`
	Quick     bool   `json:"quick"`
	Pinned    bool   `json:"pinned"` // server on cpu 0, load on cpu 1
	Taskset   bool   `json:"taskset"`
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	Memory    string `json:"memory"`
	GoVersion string `json:"go_version"`
	GitCommit string `json:"git_commit"`
	GitDirty  bool   `json:"git_dirty"` // tracked files differed from the commit
	LoadAvg   string `json:"loadavg_start"`
	RmemMax   string `json:"rmem_max"`
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func gatherFacts(quick, pinned bool) Facts {
	_, terr := exec.LookPath("taskset")
	f := Facts{Started: time.Now().UTC().Format(time.RFC3339), Quick: quick, Pinned: pinned, Taskset: terr == nil,
		NProc: runtime.NumCPU(), Kernel: firstLine("/proc/sys/kernel/osrelease"), GoVersion: runtime.Version(),
		LoadAvg: firstLine("/proc/loadavg"), RmemMax: firstLine("/proc/sys/net/core/rmem_max"),
		CPUModel: "unknown", Memory: "unknown", GitCommit: "unknown"}
	if n := command("nproc"); n != "" {
		if v, err := strconv.Atoi(n); err == nil {
			f.NProc = v
		}
	}
	if m := lscpuModel(command("lscpu")); m != "" {
		f.CPUModel = m
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if x := strings.Fields(l); len(x) >= 2 && x[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(x[1], 64); err == nil {
					f.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	if c := command("git", "rev-parse", "HEAD"); c != "" {
		f.GitCommit = c
		f.GitDirty = command("git", "status", "--porcelain", "--untracked-files=no") != ""
	}
	return f
}

// lscpuModel is "Model name (family F, model M)" from lscpu's output.
func lscpuModel(out string) string {
	get := func(key string) string {
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	name := get("Model name")
	if name == "" {
		return ""
	}
	if fam, mod := get("CPU family"), get("Model"); fam != "" && mod != "" {
		name += fmt.Sprintf(" (family %s, model %s)", fam, mod)
	}
	return name
}

// ---------------------------------------------------------------- netcompare

// Spread is netcompare's median and range over repetitions.
type Spread struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	All    []float64 `json:"all"`
}

// NC is the part of a netcompare JSON file the document uses.
type NC struct {
	Complete bool     `json:"complete"`
	Error    string   `json:"error"`
	Command  string   `json:"command"`
	Started  string   `json:"started"`
	Finished string   `json:"finished"`
	Warnings []string `json:"warnings"`
	Machine  struct {
		Taskset bool   `json:"taskset"`
		RmemMax string `json:"rmem_max"`
	} `json:"machine"`
	Config struct {
		Impls     []string `json:"impls"`
		Secs      int      `json:"secs"`
		Reps      int      `json:"reps"`
		Steps     int      `json:"steps"`
		Size      int      `json:"size"`
		Profile   string   `json:"profile"`
		LossLimit float64  `json:"loss_limit"`
	} `json:"config"`
	Groups []*NCGroup `json:"groups"`
}

// NCGroup is one fan-out × mode group.
type NCGroup struct {
	Fanout     int          `json:"fanout"`
	Mode       string       `json:"mode"`
	Threads    int          `json:"threads"`
	Impls      []string     `json:"impls"`
	CommonRate float64      `json:"common_rate"`
	Summaries  []*NCSummary `json:"summaries"`
	Ratios     []*NCRatio   `json:"ratios"`
}

// NCSummary is one forwarder's row of a group.
type NCSummary struct {
	Impl       string  `json:"impl"`
	MaxIn      *Spread `json:"max_in"`
	MaxOut     *Spread `json:"max_out"`
	GenLimited bool    `json:"gen_limited"`
	LatRate    float64 `json:"lat_rate"`
	P50        *Spread `json:"p50_us"`
	P99        *Spread `json:"p99_us"`
	P999       *Spread `json:"p999_us"`
	CommonRate float64 `json:"common_rate"`
	CPUPerIn   *Spread `json:"cpu_us_per_in"`
	// CPU0AtCommon is cpu 0's busy % (all of it, whoever ran there)
	// during the CPU-cost trials at the common rate.
	CPU0AtCommon *Spread `json:"cpu0_at_common"`
	AllocsPerIn  *Spread `json:"allocs_per_in"`
}

// NCRatio is an impl over the baseline: ratio of medians, and the range of
// the per-repetition ratios.
type NCRatio struct {
	Impl         string   `json:"impl"`
	Baseline     string   `json:"baseline"`
	CPUPerIn     *float64 `json:"cpu_per_in"`
	CPUPerInReps *Spread  `json:"cpu_per_in_reps"`
	MaxIn        *float64 `json:"max_in"`
	MaxInReps    *Spread  `json:"max_in_reps"`
}

// Group returns the pinned fan-out group (or the first with that fan-out).
func (n *NC) Group(fanout int) *NCGroup {
	if n == nil {
		return nil
	}
	var first *NCGroup
	for _, g := range n.Groups {
		if g.Fanout == fanout {
			if g.Mode == "pinned" {
				return g
			}
			if first == nil {
				first = g
			}
		}
	}
	return first
}

// Summary of impl, nil if absent.
func (g *NCGroup) Summary(impl string) *NCSummary {
	if g == nil {
		return nil
	}
	for _, s := range g.Summaries {
		if s.Impl == impl {
			return s
		}
	}
	return nil
}

// Ratio of impl over the baseline, nil if absent.
func (g *NCGroup) Ratio(impl string) *NCRatio {
	if g == nil {
		return nil
	}
	for _, r := range g.Ratios {
		if r.Impl == impl {
			return r
		}
	}
	return nil
}

// ---------------------------------------------------------------- voxbench

// Steady is the part of voxbench's Result (cmd/voxbench/result.go) the
// document uses.
type Steady struct {
	Sessions     int     `json:"sessions"`
	Size         int     `json:"size"`
	Talkers      int     `json:"talkers_per_session"`
	Participants int     `json:"participants"`
	PayloadBytes int     `json:"payload_bytes"`
	DurationS    float64 `json:"duration_s"`
	Sent         uint64  `json:"sent"`
	Expected     uint64  `json:"expected"`
	Delivered    uint64  `json:"delivered"`
	LossPct      float64 `json:"loss_pct"`
	StreamsDead  int     `json:"streams_dead"`
	Latency      struct {
		P50US  float64 `json:"p50_us"`
		P99US  float64 `json:"p99_us"`
		P999US float64 `json:"p99_9_us"`
		MaxUS  float64 `json:"max_us"`
	} `json:"latency"`
	Server struct {
		Measured               bool    `json:"measured"`
		RxPPS                  float64 `json:"rx_pps"`
		TxPPS                  float64 `json:"tx_pps"`
		ForwardedPPS           float64 `json:"forwarded_pps"`
		Drops                  uint64  `json:"drops"`
		KernelDrops            uint64  `json:"kernel_drops"`
		ProcessMeasured        bool    `json:"process_measured"`
		CPUCores               float64 `json:"process_cpu_cores"`
		CPUPerRxPacketUS       float64 `json:"process_cpu_per_rx_packet_us"`
		CPUPerForwardedUS      float64 `json:"process_cpu_per_forwarded_us"`
		CPUPerParticipantSecMS float64 `json:"process_cpu_per_participant_s_ms"`
		RxPerBatch             float64 `json:"rx_per_batch"`
		CoalescePauses         uint64  `json:"coalesce_pauses"`
	} `json:"server"`
	Generator struct {
		CPUCores  float64 `json:"cpu_cores"`
		NumCPU    int     `json:"num_cpu"`
		Saturated bool    `json:"saturated"`
		LateSends uint64  `json:"late_sends"`
		Transport string  `json:"transport"` // newer voxbench only
		SendTick  float64 `json:"send_tick_us"`
		RxDrops   *uint64 `json:"rx_socket_drops"` // newer voxbench only
	} `json:"generator"`
	// Mix is set by voxbench --mix runs.
	Mix *struct {
		Packets      uint64 `json:"packets"`
		TicksSkipped uint64 `json:"ticks_skipped"`
		Short        uint64 `json:"short"`
	} `json:"mix"`
	Objectives struct {
		Met    bool     `json:"met"`
		Missed []string `json:"missed"`
	} `json:"objectives"`
}

// Talking is the number of talkers in the run.
func (s *Steady) Talking() int { return s.Sessions * s.Talkers }

// Ramp is voxbench ramp's JSON.
type Ramp struct {
	Steps       []RampStep `json:"steps"`
	HighestHeld *RampStep  `json:"highest_held"`
	MaxLossPct  float64    `json:"max_loss_pct"`
	MaxP99US    float64    `json:"max_p99_us"`
}

// RampStep is one step of a ramp.
type RampStep struct {
	Sessions       int     `json:"sessions"`
	Participants   int     `json:"participants"`
	Talking        int     `json:"talking"`
	LossPct        float64 `json:"loss_pct"`
	P99US          float64 `json:"p99_us"`
	ServerRxPPS    float64 `json:"server_rx_pps"`
	ServerFwdPPS   float64 `json:"server_forwarded_pps"`
	GeneratorCores float64 `json:"generator_cpu_cores"`
	Saturated      bool    `json:"generator_saturated"`
	Held           bool    `json:"held"`
	Detail         *Steady `json:"detail"`
}

// ---------------------------------------------------------------- the record

// Profiles are the SRTP profiles of a record, in document order.
var Profiles = []string{"aes_cm_80", "gcm"}

// ProfileName is the SRTP profile's full name.
func ProfileName(p string) string {
	switch p {
	case "aes_cm_80":
		return "AES_CM_128_HMAC_SHA1_80"
	case "aes_cm_32":
		return "AES_CM_128_HMAC_SHA1_32"
	case "gcm":
		return "AEAD_AES_128_GCM"
	}
	return p
}

// Layouts of the steady runs.
var Layouts = []string{"s4", "s8"}

// Record is everything one run directory holds.
type Record struct {
	Dir        string
	Facts      *Facts
	Commands   []string
	NC         map[string]*NC                  // by profile
	NCFile     map[string]string               // by profile: file name
	Steady     map[string]map[string][]*Steady // profile → layout → repetitions
	SteadyMiss map[string]map[string]int       // runs that left no result
	Ramp       map[string]*Ramp
	// RampTick is the same ramp with voxbench sending what is due every
	// --send-tick (ramp-<profile>-tick.json): a cheaper generator that
	// reaches further (see renderRamp).
	RampTick   map[string]*Ramp
	Microbench string
	Problems   []string // files that were there but unreadable

	// Issue 16's parts (extra.go): the smooth-driven netcompare runs,
	// the coalescing runs and the mix-mode benchmarks.
	NCSmooth map[string]*NC                          // by profile
	Coalesce map[string]map[int]map[string][]*Steady // profile → sessions → on|off → repetitions
	MixBench map[int]string                          // room size → benchmark output
	MixProf  map[int]string                          // room size → go tool pprof -top -cum output
	MixRamp  map[int]*Ramp                           // room size → voxbench ramp --mix
}

var steadyName = regexp.MustCompile(`^steady-([a-z0-9_]+)-(s4|s8|s4b)-r([0-9]+)\.json$`)

// LoadRecord reads a run directory. Missing files are not errors (their
// parts are "not measured"); unreadable ones are listed in Problems.
func LoadRecord(dir string) (*Record, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	r := &Record{Dir: dir, NC: map[string]*NC{}, NCFile: map[string]string{},
		Steady: map[string]map[string][]*Steady{}, SteadyMiss: map[string]map[string]int{}, Ramp: map[string]*Ramp{}, RampTick: map[string]*Ramp{}}
	problem := func(name string, err error) { r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", name, err)) }
	read := func(name string, v any) bool {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if err == nil && len(strings.TrimSpace(string(b))) == 0 {
			err = errors.New("empty")
		}
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			problem(name, err)
			return false
		}
		return true
	}
	var f Facts
	if read("machine.json", &f) {
		r.Facts = &f
	}
	if b, err := os.ReadFile(filepath.Join(dir, "commands.txt")); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if l = strings.TrimRight(l, " "); l != "" {
				r.Commands = append(r.Commands, l)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "microbench.txt")); err == nil {
		r.Microbench = string(b)
	}
	for _, p := range Profiles {
		var n NC
		name := "netcompare-" + p + ".json"
		if read(name, &n) {
			r.NC[p], r.NCFile[p] = &n, name
		}
		var rp Ramp
		if read("ramp-"+p+".json", &rp) {
			r.Ramp[p] = &rp
		}
		var rt Ramp
		if read("ramp-"+p+"-tick.json", &rt) {
			r.RampTick[p] = &rt
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type rep struct {
		n int
		s *Steady
	}
	reps := map[[2]string][]rep{}
	for _, e := range ents {
		m := steadyName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		key := [2]string{m[1], m[2]}
		n, _ := strconv.Atoi(m[3])
		var s Steady
		if !read(e.Name(), &s) {
			if r.SteadyMiss[m[1]] == nil {
				r.SteadyMiss[m[1]] = map[string]int{}
			}
			r.SteadyMiss[m[1]][m[2]]++
			continue
		}
		reps[key] = append(reps[key], rep{n, &s})
	}
	for key, rs := range reps {
		sort.Slice(rs, func(i, j int) bool { return rs[i].n < rs[j].n })
		if r.Steady[key[0]] == nil {
			r.Steady[key[0]] = map[string][]*Steady{}
		}
		for _, x := range rs {
			r.Steady[key[0]][key[1]] = append(r.Steady[key[0]][key[1]], x.s)
		}
	}
	loadExtra(r, dir, read)
	sort.Strings(r.Problems)
	return r, nil
}

// CopyRun copies the run's small files into dst: the JSON files (voxbench's
// with the per-listener lists removed, which are most of their size), the
// netcompare reports, the commands and the micro-benchmark output.
func CopyRun(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		keep := name == "commands.txt" || name == "microbench.txt" || mixFile.MatchString(name) ||
			strings.HasSuffix(name, ".json") || (strings.HasPrefix(name, "netcompare-") && strings.HasSuffix(name, ".md"))
		if !keep {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, "steady-") || strings.HasPrefix(name, "ramp-") || strings.HasPrefix(name, "coalesce-") {
			if b, err = stripListeners(b); err != nil {
				continue // unreadable: the document says not measured; nothing to link
			}
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// stripListeners removes every "listeners" array from a voxbench JSON
// document, keeping the numbers of elements as "listeners_count".
func stripListeners(b []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if l, ok := x["listeners"].([]any); ok {
				delete(x, "listeners")
				x["listeners_count"] = len(l)
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(v)
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return report.WriteFileAtomic(path, append(b, '\n'))
}
