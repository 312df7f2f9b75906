// Command perfdoc writes docs/performance.md from the files of one
// bench/record.sh run, so that no number in it is typed by hand.
//
//	perfdoc facts  --out DIR/machine.json [--quick] [--pinned]
//	perfdoc render --run DIR --out FILE [--copy-to DIR]
//
// facts records the machine (CPU model, kernel, Go version, git commit, ...)
// at the start of a run. render reads a run directory (machine.json,
// commands.txt, netcompare-<profile>.json, steady-<profile>-s4|s8-r<N>.json,
// ramp-<profile>.json, microbench.txt) and writes the whole document: the
// prose is the template in render.go, every number comes from those files,
// and whatever is missing is written as "not measured". With --copy-to, the
// run's small files are copied there first (voxbench's per-listener lists
// removed) and the document links to the copies.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/voxfleet/vox/bench/internal/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  perfdoc facts  --out FILE [--quick] [--pinned]    record the machine and the commit
  perfdoc render --run DIR --out FILE [--copy-to DIR]   write the performance document
  perfdoc common-rate --json FILE [--fanout 3]     print a netcompare run's common rate (pps)`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "facts":
		err = factsCmd(args[1:], stderr)
	case "render":
		err = renderCmd(args[1:], stdout, stderr)
	case "common-rate":
		err = commonRateCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "perfdoc: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "perfdoc:", err)
		return 1
	}
	return 0
}

func factsCmd(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("perfdoc facts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the machine facts (JSON) here")
	quick := fs.Bool("quick", false, "the run is a quick try (record.sh --quick)")
	pinned := fs.Bool("pinned", false, "the server and the load are pinned to cpu 0 and cpu 1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("facts needs --out FILE and no arguments")
	}
	return writeJSONFile(*out, gatherFacts(*quick, *pinned))
}

// commonRateCmd prints the common rate (the rate of the CPU-cost trials)
// of a netcompare JSON file's pinned group of the fan-out, as an integer.
func commonRateCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("perfdoc common-rate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("json", "", "netcompare JSON file")
	fanout := fs.Int("fanout", 3, "fan-out of the group")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || fs.NArg() > 0 {
		return errors.New("common-rate needs --json FILE")
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var nc NC
	if err := json.Unmarshal(b, &nc); err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	g := nc.Group(*fanout)
	if g == nil || g.CommonRate <= 0 {
		return fmt.Errorf("%s: no common rate for fan-out %d", *file, *fanout)
	}
	fmt.Fprintf(stdout, "%.0f\n", g.CommonRate)
	return nil
}

func renderCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("perfdoc render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runDir := fs.String("run", "", "run directory written by bench/record.sh")
	out := fs.String("out", "", "the document to write (docs/performance.md)")
	copyTo := fs.String("copy-to", "", "copy the run's small files here and link to the copies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runDir == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("render needs --run DIR and --out FILE")
	}
	rec, err := LoadRecord(*runDir)
	if err != nil {
		return err
	}
	for _, w := range rec.Problems {
		fmt.Fprintln(stderr, "perfdoc: warning:", w)
	}
	srcDir := *runDir
	if *copyTo != "" {
		if err := CopyRun(*runDir, *copyTo); err != nil {
			return err
		}
		srcDir = *copyTo
	}
	link, err := filepath.Rel(filepath.Dir(*out), srcDir)
	if err != nil {
		link = srcDir
	}
	doc := Render(rec, filepath.ToSlash(link))
	if err := report.WriteFileAtomic(*out, []byte(doc)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "perfdoc: wrote %s\n", *out)
	return nil
}
