//go:build linux

// Command netcompare measures vox's UDP forwarder (bench/cmd/netfwd) side
// by side with the C reference forwarder of udpbase (fwd.c) and optionally
// udpbase's naive Go forwarder (gofwd), in one run, with udpbase's
// methodology (/work/shared/tools/udpbase/README.md, bench.py).
//
// Usually started by bench/compare.sh, which builds every tool first.
//
//	netcompare [run] [flags]                      measure, print tables, write --json/--markdown
//	netcompare report --json F [--markdown M]     re-render tables from a JSON file
//
// For every mode × fanout group, interleaved across impls (C, vox, C, vox,
// ...) per repetition: a capacity search (flat-out probe, then bisection for
// the highest rate with < 0.1 % forwarder loss), then a latency trial at 50 %
// of each impl's median max rate and a CPU-cost trial at one common rate
// (50 % of the slowest impl's median max, or --common-rate). Every raw trial
// (with the processes' RESULT lines) goes into the JSON file; summaries are
// derived from them, so `report` reproduces the tables from the JSON alone.
package main

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/voxfleet/vox/bench/internal/report"
)

// genSockets is the number of talkers (source ports) of the generator.
const genSockets = 64

// knownImpls maps an impl to its forwarder binary (in --bin) and whether it
// runs with -srtp.
var knownImpls = map[string]struct {
	bin  string
	srtp bool
}{
	"c":       {"fwd", false},
	"vox":     {"netfwd", false},
	"voxsrtp": {"netfwd", true},
	"go":      {"gofwd", false},
	"gosrtp":  {"gofwd", true},
}

func isSRTP(impl string) bool { return knownImpls[impl].srtp }

// options are the command-line flags of `run`.
type options struct {
	impls      []string
	fanouts    []int
	modes      []string
	phases     map[string]bool
	secs       int
	reps       int
	steps      int
	size       int
	profile    string
	commonRate float64
	threads    int
	sinkPoll   int
	binDir     string
	voxBin     string
	jsonPath   string
	mdPath     string
	heading    int
	baseline   string
	fwdPort    int
	sinkPort   int
	srcPort    int
	maxMinutes float64
	taskset    bool
	genBatch   int
}

// Report is the JSON file.
type Report struct {
	Schema   int                `json:"schema"`
	Tool     string             `json:"tool"`
	Complete bool               `json:"complete"`
	Started  string             `json:"started"`
	Finished string             `json:"finished"`
	Command  string             `json:"command"`
	Args     []string           `json:"args"`
	Machine  Machine            `json:"machine"`
	Config   Config             `json:"config"`
	Binaries map[string]BinInfo `json:"binaries"`
	Warnings []string           `json:"warnings,omitempty"`
	Error    string             `json:"error,omitempty"`
	Groups   []*Group           `json:"groups"`
}

// Config is the measurement configuration as recorded in the JSON file.
type Config struct {
	Impls      []string `json:"impls"`
	Fanouts    []int    `json:"fanouts"`
	Modes      []string `json:"modes"`
	Phases     []string `json:"phases"`
	Secs       int      `json:"secs"`
	Reps       int      `json:"reps"`
	Steps      int      `json:"steps"`
	Size       int      `json:"size"`
	Profile    string   `json:"profile"`
	CommonRate float64  `json:"common_rate_fixed"`
	// GenBatch is the generator's datagrams per paced send (gen -b):
	// 8, bursts; 1, smooth arrivals like voxbench's clients.
	GenBatch  int     `json:"gen_batch"`
	Threads   int     `json:"threads"`
	SinkPoll  int     `json:"sink_poll_us"`
	Baseline  string  `json:"baseline"`
	LossLimit float64 `json:"loss_limit"`
	GenReach  float64 `json:"gen_reach"`
	FwdPort   int     `json:"fwd_port"`
	SinkPort  int     `json:"sink_port"`
	SrcPort   int     `json:"src_port"`
}

// Machine facts for the report.
type Machine struct {
	NProc     int    `json:"nproc"`
	Kernel    string `json:"kernel"`
	CPUModel  string `json:"cpu_model"`
	Memory    string `json:"memory"`
	GoVersion string `json:"go_version"`
	RmemMax   string `json:"rmem_max"`
	LoadAvg   string `json:"loadavg_start"`
	Taskset   bool   `json:"taskset"`
}

// BinInfo identifies one forwarder binary.
type BinInfo struct {
	Argv      []string `json:"argv"`
	SHA256    string   `json:"sha256"`
	GoVersion string   `json:"go_version,omitempty"`
	Source    string   `json:"source,omitempty"`
}

func main() {
	log := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "netcompare: "+format+"\n", a...) }
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "report") {
		cmd, args = args[0], args[1:]
	}
	var err error
	if cmd == "report" {
		err = reportCmd(args)
	} else {
		err = runCmd(args)
	}
	if err != nil {
		log("error: %v", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseRunFlags parses and validates the flags of `run`.
func parseRunFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("netcompare run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	impls := fs.String("impls", "c,vox", "forwarders: c (udpbase fwd.c), vox (bench/cmd/netfwd), voxsrtp (netfwd -srtp), go (udpbase gofwd), gosrtp (gofwd -srtp)")
	fanouts := fs.String("fanouts", "1,3", "fanout list (copies per received packet)")
	modes := fs.String("modes", "pinned", "pinned (forwarder on cpu 0, generator+sink on cpu 1) and/or unpinned (2 forwarder threads, nothing pinned)")
	phases := fs.String("phases", "max,latency,cost", "what to measure: max (capacity search), latency (at 50% of max), cost (CPU per packet at the common rate)")
	fs.IntVar(&o.secs, "secs", 5, "seconds per trial")
	fs.IntVar(&o.reps, "reps", 3, "repetitions per impl (interleaved)")
	fs.IntVar(&o.steps, "steps", 4, "bisection steps per capacity search")
	fs.IntVar(&o.size, "size", 120, "UDP payload bytes on the wire")
	fs.StringVar(&o.profile, "profile", "aes_cm_80", "SRTP profile for voxsrtp/gosrtp: aes_cm_80, aes_cm_32, gcm")
	fs.Float64Var(&o.commonRate, "common-rate", 0, "pps for the CPU-cost trials (0 = 50% of the slowest impl's median max; required without the max phase)")
	fs.IntVar(&o.threads, "threads", 0, "forwarder threads (0 = 1 pinned, 2 unpinned)")
	fs.IntVar(&o.sinkPoll, "sink-poll", 200, "sink poll interval in µs for capacity trials (latency/cost trials use epoll)")
	fs.StringVar(&o.binDir, "bin", "bench/out", "directory with fwd, gen, gogen, gofwd, netfwd")
	fs.StringVar(&o.voxBin, "vox-bin", "", "vox forwarder binary (default BIN/netfwd)")
	fs.StringVar(&o.jsonPath, "json", "", "write every raw trial and the summary to this JSON file")
	fs.StringVar(&o.mdPath, "markdown", "", "write a self-contained markdown section to this file")
	fs.IntVar(&o.heading, "heading-level", 2, "markdown heading level of the section")
	fs.StringVar(&o.baseline, "baseline", "c", "impl the ratios are relative to")
	fs.IntVar(&o.fwdPort, "fwd-port", 40000, "forwarder port on 127.0.0.1")
	fs.IntVar(&o.sinkPort, "sink-port", 41000, "first sink port on 127.0.0.1 (one per fanout copy)")
	fs.IntVar(&o.srcPort, "src-port", 42000, "first generator source port (64 talkers)")
	fs.Float64Var(&o.maxMinutes, "max-minutes", 240, "abort the whole run after this many minutes")
	fs.IntVar(&o.genBatch, "gen-batch", 8, "datagrams per paced send of the generator (gen -b, 1..64): 8 sends bursts of 8; 1 sends smoothly, one datagram at a time, like voxbench's clients")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.impls = splitList(*impls)
	if len(o.impls) == 0 {
		return nil, errors.New("--impls is empty")
	}
	seen := map[string]bool{}
	for _, i := range o.impls {
		if _, ok := knownImpls[i]; !ok {
			return nil, fmt.Errorf("unknown impl %q in --impls (want c, vox, voxsrtp, go, gosrtp)", i)
		}
		if seen[i] {
			return nil, fmt.Errorf("impl %q listed twice", i)
		}
		seen[i] = true
	}
	for _, f := range splitList(*fanouts) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 16 {
			return nil, fmt.Errorf("bad fanout %q (want 1..16)", f)
		}
		o.fanouts = append(o.fanouts, n)
	}
	if len(o.fanouts) == 0 {
		return nil, errors.New("--fanouts is empty")
	}
	for _, m := range splitList(*modes) {
		if m != "pinned" && m != "unpinned" {
			return nil, fmt.Errorf("bad mode %q (want pinned, unpinned)", m)
		}
		o.modes = append(o.modes, m)
	}
	if len(o.modes) == 0 {
		return nil, errors.New("--modes is empty")
	}
	o.phases = map[string]bool{}
	for _, p := range splitList(*phases) {
		if p != "max" && p != "latency" && p != "cost" {
			return nil, fmt.Errorf("bad phase %q (want max, latency, cost)", p)
		}
		o.phases[p] = true
	}
	switch {
	case len(o.phases) == 0:
		return nil, errors.New("--phases is empty")
	case o.phases["latency"] && !o.phases["max"]:
		return nil, errors.New("the latency phase needs the max phase (latency runs at 50% of the max rate)")
	case o.phases["cost"] && !o.phases["max"] && o.commonRate <= 0:
		return nil, errors.New("the cost phase without the max phase needs --common-rate")
	}
	switch {
	case o.secs < 1 || o.secs > 120:
		return nil, errors.New("--secs must be 1..120")
	case o.reps < 1 || o.reps > 20:
		return nil, errors.New("--reps must be 1..20")
	case o.steps < 0 || o.steps > 12:
		return nil, errors.New("--steps must be 0..12")
	case o.size < 44 || o.size > 1472:
		return nil, errors.New("--size must be 44..1472")
	case o.genBatch < 1 || o.genBatch > 64:
		return nil, fmt.Errorf("bad --gen-batch %d (1..64)", o.genBatch)
	case o.profile != "aes_cm_80" && o.profile != "aes_cm_32" && o.profile != "gcm":
		return nil, fmt.Errorf("bad --profile %q", o.profile)
	case o.commonRate < 0 || o.commonRate > 5e6:
		return nil, errors.New("--common-rate must be 0..5e6 pps")
	case o.threads < 0 || o.threads > 64:
		return nil, errors.New("--threads must be 0..64")
	case o.sinkPoll < 1 || o.sinkPoll > 100000:
		return nil, errors.New("--sink-poll must be 1..100000 µs")
	case o.maxMinutes <= 0:
		return nil, errors.New("--max-minutes must be > 0")
	}
	for _, p := range []struct {
		name string
		v, n int
	}{{"--fwd-port", o.fwdPort, 1}, {"--sink-port", o.sinkPort, 16}, {"--src-port", o.srcPort, genSockets}} {
		if p.v < 1024 || p.v+p.n > 65535 {
			return nil, fmt.Errorf("%s %d out of range", p.name, p.v)
		}
	}
	ranges := [][2]int{{o.fwdPort, o.fwdPort + 1}, {o.sinkPort, o.sinkPort + 16}, {o.srcPort, o.srcPort + genSockets}}
	for i := range ranges {
		for j := i + 1; j < len(ranges); j++ {
			if ranges[i][0] < ranges[j][1] && ranges[j][0] < ranges[i][1] {
				return nil, errors.New("--fwd-port, --sink-port (+16) and --src-port (+64) ranges overlap")
			}
		}
	}
	if o.voxBin == "" {
		o.voxBin = filepath.Join(o.binDir, "netfwd")
	}
	return o, nil
}

func (o *options) bin(name string) string { return filepath.Join(o.binDir, name) }

// fwdCmd is the forwarder binary of an impl.
func (o *options) fwdCmd(impl string) []string {
	if knownImpls[impl].bin == "netfwd" {
		return []string{o.voxBin}
	}
	return []string{o.bin(knownImpls[impl].bin)}
}

func (o *options) srtpArgs(impl string) []string {
	if isSRTP(impl) {
		return []string{"-srtp", "-profile", o.profile}
	}
	return nil
}

// cpuPrefix pins a process in pinned mode.
func (o *options) cpuPrefix(mode, cpu string) []string {
	if mode == "pinned" && o.taskset {
		return []string{"taskset", "-c", cpu}
	}
	return nil
}

func (o *options) threadsFor(mode string) int {
	switch {
	case o.threads > 0:
		return o.threads
	case mode == "pinned":
		return 1
	}
	return 2
}

// checkBinaries makes sure every tool this run needs exists.
func (o *options) checkBinaries() error {
	need := map[string]string{o.bin("gen"): "udpbase gen (cc -O2 -o BIN/gen gen.c)"}
	for _, impl := range o.impls {
		if isSRTP(impl) {
			need[o.bin("gogen")] = "udpbase gogen (cd gofwd && go build -o BIN/gogen ./cmd/gogen)"
		}
		switch knownImpls[impl].bin {
		case "fwd":
			need[o.bin("fwd")] = "udpbase fwd (cc -O2 -pthread -o BIN/fwd fwd.c)"
		case "gofwd":
			need[o.bin("gofwd")] = "udpbase gofwd (cd gofwd && go build -o BIN/gofwd .)"
		case "netfwd":
			need[o.voxBin] = "vox forwarder (go build -o BIN/netfwd ./bench/cmd/netfwd, or --vox-bin)"
		}
	}
	for path, what := range need {
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("missing %s: %s not found (bench/compare.sh builds everything)", what, path)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file (%s)", path, what)
		}
	}
	return nil
}

func binInfo(argv []string, source string) BinInfo {
	bi := BinInfo{Argv: append([]string(nil), argv...), Source: source}
	if wd, err := os.Getwd(); err == nil && filepath.IsAbs(argv[0]) {
		if rel, err := filepath.Rel(wd, argv[0]); err == nil && !strings.HasPrefix(rel, "..") {
			bi.Argv[0] = rel
		}
	}
	if b, err := os.ReadFile(argv[0]); err == nil {
		sum := sha256.Sum256(b)
		bi.SHA256 = hex.EncodeToString(sum[:])[:16]
	}
	if info, err := buildinfo.ReadFile(argv[0]); err == nil {
		bi.GoVersion = info.GoVersion
		if bi.Source == "" {
			bi.Source = info.Path
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					bi.Source += "@" + s.Value
				}
			}
		}
	}
	return bi
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
}

func machineFacts(taskset bool) Machine {
	m := Machine{NProc: runtime.NumCPU(), Kernel: firstLine("/proc/sys/kernel/osrelease"),
		GoVersion: runtime.Version(), RmemMax: firstLine("/proc/sys/net/core/rmem_max"),
		LoadAvg: firstLine("/proc/loadavg"), Taskset: taskset, CPUModel: "unknown", Memory: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	return m
}

// cpuModel extracts "model name (family F model M)" from /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	get := func(key string) string {
		for _, l := range strings.Split(cpuinfo, "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	name := get("model name")
	if name == "" {
		name = "unknown"
	}
	if fam, mod := get("cpu family"), get("model"); fam != "" && mod != "" {
		name += fmt.Sprintf(" (family %s, model %s)", fam, mod)
	}
	return name
}

// shellQuote renders argv so it can be pasted into a shell.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

func writeJSON(path string, r *Report) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return report.WriteFileAtomic(path, append(b, '\n'))
}

func runCmd(args []string) (err error) {
	o, err := parseRunFlags(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	rep := &Report{Schema: 1, Tool: "bench/cmd/netcompare", Started: time.Now().UTC().Format(time.RFC3339),
		Args: os.Args, Binaries: map[string]BinInfo{}}
	warn := func(format string, a ...any) {
		w := fmt.Sprintf(format, a...)
		rep.Warnings = append(rep.Warnings, w)
		logf("netcompare: warning: %s", w)
	}

	_, terr := exec.LookPath("taskset")
	o.taskset = terr == nil
	if !o.taskset && contains(o.modes, "pinned") {
		warn("taskset not found: running the pinned groups unpinned (nothing pinned, %d forwarder thread(s))", o.threadsFor("unpinned"))
		o.modes = dedupe(replaceAll(o.modes, "pinned", "unpinned"))
	}
	if contains(o.modes, "pinned") && runtime.NumCPU() < 2 {
		return errors.New("pinned mode needs cpus 0 and 1, but fewer than 2 are available")
	}
	if err := o.checkBinaries(); err != nil {
		return err
	}
	if o.baseline != "" && !contains(o.impls, o.baseline) {
		warn("baseline %q is not in --impls: no ratio table", o.baseline)
	}

	rep.Command = os.Getenv("NETCOMPARE_CMDLINE")
	if rep.Command == "" {
		rep.Command = shellQuote(os.Args)
	}
	rep.Machine = machineFacts(o.taskset)
	var phases []string
	for _, p := range []string{"max", "latency", "cost"} {
		if o.phases[p] {
			phases = append(phases, p)
		}
	}
	rep.Config = Config{Impls: o.impls, Fanouts: o.fanouts, Modes: o.modes, Phases: phases, Secs: o.secs,
		Reps: o.reps, Steps: o.steps, Size: o.size, Profile: o.profile, CommonRate: o.commonRate,
		Threads: o.threads, SinkPoll: o.sinkPoll, Baseline: o.baseline, LossLimit: LossLimit, GenReach: GenReach,
		FwdPort: o.fwdPort, SinkPort: o.sinkPort, SrcPort: o.srcPort, GenBatch: o.genBatch}
	for _, impl := range o.impls {
		src := ""
		if knownImpls[impl].bin == "netfwd" {
			src = os.Getenv("VOX_SOURCE")
		}
		rep.Binaries[impl] = binInfo(cat(o.fwdCmd(impl), o.srtpArgs(impl)), src)
	}

	// Interrupts and the overall time limit cancel ctx; every child is
	// stopped on the way out, whatever happens.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.maxMinutes*float64(time.Minute)))
	defer cancel()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigc)
	go func() {
		s, ok := <-sigc
		if !ok {
			return
		}
		logf("netcompare: %v: stopping all processes", s)
		cancel()
		children.killAll()
		if _, ok := <-sigc; ok { // second signal: leave now
			children.killAll()
			os.Exit(130)
		}
	}()
	defer children.killAll()

	runErr := o.measure(ctx, rep, logf, warn)
	rep.Finished = time.Now().UTC().Format(time.RFC3339)
	rep.Complete = runErr == nil
	if runErr != nil {
		switch {
		case errors.Is(runErr, context.DeadlineExceeded):
			runErr = fmt.Errorf("--max-minutes %g exceeded: %w", o.maxMinutes, runErr)
		case errors.Is(runErr, context.Canceled):
			runErr = fmt.Errorf("interrupted by a signal: %w", runErr)
		}
		rep.Error = runErr.Error()
	}
	for _, g := range rep.Groups {
		g.Summarize(o.baseline)
	}
	if err := writeJSON(o.jsonPath, rep); err != nil {
		return errors.Join(runErr, fmt.Errorf("writing %s: %w", o.jsonPath, err))
	}
	if runErr == nil {
		fmt.Print(Tables(rep.Groups))
		if o.mdPath != "" {
			if err := report.WriteFileAtomic(o.mdPath, []byte(Markdown(rep, o.heading))); err != nil {
				return fmt.Errorf("writing %s: %w", o.mdPath, err)
			}
		}
		if o.jsonPath != "" {
			logf("netcompare: wrote %s", o.jsonPath)
		}
		if o.mdPath != "" {
			logf("netcompare: wrote %s", o.mdPath)
		}
	} else if o.jsonPath != "" {
		logf("netcompare: partial results in %s (complete=false)", o.jsonPath)
	}
	return runErr
}

// measure runs every group; rep.Groups grows as it goes and the JSON file
// is rewritten after every group.
func (o *options) measure(ctx context.Context, rep *Report, logf, warn func(string, ...any)) error {
	for _, mode := range o.modes {
		for _, fanout := range o.fanouts {
			g := &Group{Fanout: fanout, Mode: mode, Threads: o.threadsFor(mode), Impls: o.impls,
				Searches: map[string][]*Search{}, LatRate: map[string]float64{},
				LatTrials: map[string][]*Trial{}, CostTrials: map[string][]*Trial{}}
			rep.Groups = append(rep.Groups, g)
			logf("== group %s fanout %d %s", strings.Join(o.impls, ","), fanout, modeLabel(mode, g.Threads))
			run := func(impl, kind string, r int, rate float64, poll int) (*Trial, error) {
				t, err := o.runTrial(ctx, trialSpec{impl: impl, fanout: fanout, mode: mode, threads: g.Threads,
					kind: kind, rep: r, rate: rate, sinkPoll: poll})
				if err != nil {
					return nil, err
				}
				logTrial(logf, t)
				if t.FwdImpl != "" && t.FwdImpl != expectImpl(impl) && !rep.warned(impl) {
					warn("%s forwarder reports impl=%s (expected %s): is --vox-bin a stand-in?", impl, t.FwdImpl, expectImpl(impl))
				}
				return t, nil
			}
			if o.phases["max"] {
				for r := 0; r < o.reps; r++ {
					for _, impl := range o.impls {
						logf(" -- %s capacity search, rep %d/%d", impl, r+1, o.reps)
						s, err := RunSearch(o.steps, func(kind string, rate float64) (*Trial, error) {
							return run(impl, kind, r, rate, o.sinkPoll)
						})
						if err != nil {
							return err
						}
						s.Rep = r
						g.Searches[impl] = append(g.Searches[impl], s)
						logf("    %s max in %.0f pps (saturated in %.0f)%s", impl, s.MaxRate, s.SaturatedIn,
							map[bool]string{true: " gen-limited", false: ""}[s.GenLimited])
					}
				}
			}
			medMax := map[string]float64{}
			for _, impl := range o.impls {
				if ss := g.Searches[impl]; len(ss) > 0 {
					medMax[impl] = report.Median(collect(ss, func(s *Search) float64 { return s.MaxRate }))
					if medMax[impl] <= 0 {
						warn("%s fanout %d %s: no rate passed; no latency trial", impl, fanout, mode)
					}
				}
			}
			g.CommonRate, g.LatRate = PlanRates(o.impls, medMax, o.commonRate)
			g.CommonRateFixed = o.commonRate > 0
			if o.phases["cost"] && g.CommonRate <= 0 {
				warn("fanout %d %s: no common rate (no impl passed any rate): no CPU-cost trials", fanout, mode)
			}
			for r := 0; r < o.reps; r++ {
				for _, impl := range o.impls {
					if lr := g.LatRate[impl]; o.phases["latency"] && lr > 0 {
						t, err := run(impl, KindLatency, r, lr, 0)
						if err != nil {
							return err
						}
						g.LatTrials[impl] = append(g.LatTrials[impl], t)
					}
					if o.phases["cost"] && g.CommonRate > 0 {
						t, err := run(impl, KindCost, r, g.CommonRate, 0)
						if err != nil {
							return err
						}
						g.CostTrials[impl] = append(g.CostTrials[impl], t)
					}
				}
			}
			g.Summarize(o.baseline)
			for _, s := range g.Summaries {
				logf("   %-8s max in %s kpps  CPU %s µs/in-pkt @ %.0fk  p50 %s p99 %s µs", s.Impl,
					FmtSpread(s.MaxIn, 1e-3, 0), FmtSpread(s.CPUPerIn, 1, 2), g.CommonRate/1e3,
					FmtSpread(s.P50, 1, 0), FmtSpread(s.P99, 1, 0))
			}
			if err := writeJSON(o.jsonPath, rep); err != nil {
				return fmt.Errorf("writing %s: %w", o.jsonPath, err)
			}
		}
	}
	return nil
}

// warned records that the impl-mismatch warning was given for impl.
func (r *Report) warned(impl string) bool {
	for _, w := range r.Warnings {
		if strings.HasPrefix(w, impl+" forwarder reports impl=") {
			return true
		}
	}
	return false
}

// expectImpl is the impl= value an impl's forwarder prints.
func expectImpl(impl string) string {
	switch knownImpls[impl].bin {
	case "fwd":
		return "c"
	case "gofwd":
		return "go"
	}
	return "vox"
}

func logTrial(logf func(string, ...any), t *Trial) {
	verdict := "fail"
	if t.Pass {
		verdict = "PASS"
	}
	logf("  %-7s f=%d %-8s %-7s target %8.0f gen %8.0f in %8.0f/s out %8.0f/s loss fwd %.4f%% e2e %.4f%% "+
		"cpu0 %5.1f%% cpu1 %5.1f%% cpu/in %s µs p50 %.0f p99 %.0f µs %s",
		t.Impl, t.Fanout, t.Mode, t.Kind, t.Target, t.GenRate, t.InRate(), t.OutRate, 100*t.LossFwd,
		100*t.LossE2E, t.util("cpu0"), t.util("cpu1"), num(t.CPUPerIn(), 2), t.P50, t.P99, verdict)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func replaceAll(xs []string, from, to string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x
		if x == from {
			out[i] = to
		}
	}
	return out
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// LoadReport reads a JSON file and re-derives every number from the raw
// RESULT lines.
func LoadReport(data []byte, baseline string) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.Schema != 1 {
		return nil, fmt.Errorf("unsupported schema %d", r.Schema)
	}
	if baseline == "" {
		baseline = r.Config.Baseline
	}
	for _, g := range r.Groups {
		for impl, ss := range g.Searches {
			for _, s := range ss {
				for _, t := range s.Trials {
					if err := t.derive(); err != nil {
						return nil, fmt.Errorf("%s fanout %d %s: %w", impl, g.Fanout, g.Mode, err)
					}
				}
				if err := s.finish(); err != nil {
					return nil, err
				}
			}
		}
		for _, m := range []map[string][]*Trial{g.LatTrials, g.CostTrials} {
			for _, ts := range m {
				for _, t := range ts {
					if err := t.derive(); err != nil {
						return nil, err
					}
				}
			}
		}
		g.Summarize(baseline)
	}
	return &r, nil
}

func reportCmd(args []string) error {
	fs := flag.NewFlagSet("netcompare report", flag.ContinueOnError)
	in := fs.String("json", "", "JSON file written by netcompare run")
	md := fs.String("markdown", "", "write the markdown section to this file")
	heading := fs.Int("heading-level", 2, "markdown heading level")
	baseline := fs.String("baseline", "", "impl the ratios are relative to (default: the run's)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *in == "" || fs.NArg() > 0 {
		return errors.New("usage: netcompare report --json FILE [--markdown FILE] [--heading-level N]")
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	r, err := LoadReport(data, *baseline)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if !r.Complete {
		fmt.Fprintf(os.Stderr, "netcompare: warning: %s is from an incomplete run (%s)\n", *in, r.Error)
	}
	fmt.Print(Tables(r.Groups))
	if *md != "" {
		if err := report.WriteFileAtomic(*md, []byte(Markdown(r, *heading))); err != nil {
			return err
		}
	}
	return nil
}
