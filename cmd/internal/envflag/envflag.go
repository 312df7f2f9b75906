// Package envflag gives command-line flags environment-variable fallbacks:
// flag "udp-addr" of a FlagSet reads VOX_UDP_ADDR when it is not given on
// the command line. Flags always win over the environment.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Name returns the environment variable of flag name: VOX_ and the name in
// upper case with dashes as underscores.
func Name(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then sets every flag not given on the command
// line from its environment variable (looked up with lookup, os.LookupEnv
// when nil). A malformed environment value is an error naming the variable.
func Parse(fs *flag.FlagSet, prefix string, args []string, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := Name(prefix, f.Name)
		if v, ok := lookup(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

// ParseCommand is a command's whole flag parsing: --help prints summary
// and every flag (Usage), args and the environment are parsed (Parse), and
// positional arguments are refused. flag.ErrHelp is returned as it is.
func ParseCommand(fs *flag.FlagSet, prefix, summary string, args []string, lookup func(string) (string, bool)) error {
	fs.Usage = Usage(fs, prefix, summary)
	if err := Parse(fs, prefix, args, lookup); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// Usage returns a usage function that prints the summary, then every flag
// with its default and its environment variable.
func Usage(fs *flag.FlagSet, prefix, summary string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintln(w, strings.TrimSpace(summary))
		fmt.Fprintln(w, "\nFlags (each also read from the environment variable shown; a flag given on the command line wins):")
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  --%s", f.Name)
			if name != "" {
				fmt.Fprintf(w, " %s", name)
			}
			fmt.Fprintf(w, "    [$%s]\n", Name(prefix, f.Name))
			fmt.Fprintf(w, "\t%s", strings.ReplaceAll(usage, "\n", "\n\t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
}
