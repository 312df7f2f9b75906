// Command voxctl is the operator's command line for a vox pod's admin API:
// status, sessions, accept-stop / accept-resume, drain (with progress),
// drain-cancel and reconnect; and for the fleet router's: pods, where,
// router-status. It talks to the pod through package client.
//
//	voxctl [--addr URL-or-host:port] [--token T] [--json] <command> [flags]
//
// Exit codes: 0 done; 1 the server failed (5xx) or the command did not
// reach its goal (a drain cancelled or not finished in time); 2 a usage
// error or a request the server refused (4xx); 3 the pod could not be
// reached; 130 interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/envflag"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1 // a 5xx, an unreadable answer, a drain that did not finish
	exitUsage       = 2 // bad flags or arguments, or a 4xx answer
	exitUnreachable = 3 // no answer from the pod
	exitInterrupted = 130
)

// envPrefix makes --addr read VOX_ADMIN_ADDR, --token VOX_ADMIN_TOKEN, ...
const envPrefix = "VOX_ADMIN_"

// defaultAddr is voxd's default --admin-addr.
const defaultAddr = "127.0.0.1:8080"

const summary = `voxctl — operate a vox pod through its admin API.

Usage: voxctl [global flags] <command> [command flags]

Commands:
  status          the pod at a glance: state, load, traffic, shards, drain progress
  sessions        the sessions: id, members, shard, age
  accept-stop     stop admitting new sessions and participants (sessions continue)
  accept-resume   admit again after accept-stop (refused while draining)
  drain           drain the pod: stop admitting, grace period, reconnect notices; --wait follows it
  drain-cancel    cancel a drain still in its grace period
  reconnect       ask clients to reconnect elsewhere now, without draining

Fleet router (--addr is voxrouter's API, --token its token):
  pods            the pods that report to the router: load, state, whether they take sessions
  where           which pod a session lives on
  router-status   the router at a glance: pods, sessions, admissions per second, latency
  pools           the pools: weight, share of new sessions, region, load, free slots, drain
  pool-weight     set a pool's weight at once (0: no new session there; a rollback)
  pool-drain      move every session off a pool at the reconnect budget (--cancel stops it)
  pod-drain       drain one pod at the reconnect budget (--grace, --cancel)
  drains          the pods being drained, the reconnect budget, consolidation

"voxctl <command> --help" explains a command's flags. Global flags may also
follow the command.

Exit codes: 0 done; 1 server error (5xx) or the goal was not reached;
2 usage error or refused request (4xx); 3 the pod could not be reached.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags every command takes.
type globals struct {
	addr      string
	token     string
	tokenFile string
	json      bool
	timeout   time.Duration
	given     map[string]bool // global flags given on the command line
}

// register adds the global flags to fs, bound to g, with def's values as
// their defaults.
func (g *globals) register(fs *flag.FlagSet, def globals) {
	fs.StringVar(&g.addr, "addr", def.addr,
		"the pod's admin API: host:port or http(s)://host:port. An empty or unspecified\nhost (\":8081\", \"0.0.0.0:8081\") means this machine (127.0.0.1).")
	fs.StringVar(&g.token, "token", def.token,
		"bearer token of the admin API (as voxd's --admin-token). Prefer the environment:\na flag shows in the process list.")
	fs.StringVar(&g.tokenFile, "token-file", def.tokenFile,
		"file holding the bearer token (as voxd's --admin-token-file); --token wins.")
	fs.BoolVar(&g.json, "json", def.json,
		"print the server's answers as JSON, one object per line (for scripts).")
	fs.DurationVar(&g.timeout, "timeout", def.timeout,
		"how long one request may take.")
	fs.Lookup("token").DefValue = "" // a secret: never shown in --help
}

var defaultGlobals = globals{addr: defaultAddr, timeout: 10 * time.Second}

// command is one voxctl command.
type command struct {
	name, summary, usage string
	// flags registers the command's own flags; run executes it.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *cli) int
}

// cli is what a command runs with.
type cli struct {
	api            *client.API
	base           string // the API's base URL, for messages
	g              *globals
	stdout, stderr io.Writer
	cmd            string
	args           []string // positional arguments after the command's flags
	now            func() time.Time
}

func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	g := &globals{}
	fs := flag.NewFlagSet("voxctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.register(fs, defaultGlobals)
	topUsage := envflag.Usage(fs, envPrefix, summary)
	fs.Usage = func() {} // help is printed below, a hint after errors
	if err := envflag.Parse(fs, envPrefix, args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			topUsage()
			return exitOK
		}
		if strings.HasPrefix(err.Error(), "environment") { // the flag package reported its own errors
			printf(stderr, "voxctl: %v\n", err)
		}
		fmt.Fprintln(stderr, "run 'voxctl --help' for usage")
		return exitUsage
	}
	g.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { g.given[f.Name] = true })

	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "voxctl: no command given (run 'voxctl --help')")
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			fs.SetOutput(stdout)
			topUsage()
			return exitOK
		}
		name, rest = rest[0], []string{"--help"}
	}
	cmd, ok := commands()[name]
	if !ok {
		printf(stderr, "voxctl: unknown command %q (run 'voxctl --help')\n", name)
		return exitUsage
	}

	cfs := flag.NewFlagSet("voxctl "+name, flag.ContinueOnError)
	cfs.SetOutput(stderr)
	exec := cmd.flags(cfs)
	// The globals were parsed (flags and environment) above: those values
	// are the defaults of the same flags after the command.
	g.register(cfs, *g)
	cfs.Usage = func() {}
	if err := cfs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cfs.SetOutput(stdout)
			commandUsage(cfs, cmd)
			return exitOK
		}
		printf(stderr, "run 'voxctl %s --help' for usage\n", name)
		return exitUsage
	}
	cfs.Visit(func(f *flag.Flag) {
		if f.Name == "addr" || f.Name == "token" || f.Name == "token-file" || f.Name == "json" || f.Name == "timeout" {
			g.given[f.Name] = true
		}
	})

	c := &cli{g: g, stdout: stdout, stderr: stderr, cmd: name, args: cfs.Args(), now: time.Now}
	if code := c.connect(); code != exitOK {
		return code
	}
	return exec(ctx, c)
}

func commandUsage(fs *flag.FlagSet, cmd command) {
	w := fs.Output()
	fmt.Fprintf(w, "voxctl %s — %s\n\nUsage: voxctl [global flags] %s\n", cmd.name, cmd.summary, cmd.usage)
	fmt.Fprintln(w, "\nFlags (the global ones --addr, --token, --token-file, --json, --timeout also read\n$VOX_ADMIN_ADDR, $VOX_ADMIN_TOKEN, $VOX_ADMIN_TOKEN_FILE, $VOX_ADMIN_JSON, $VOX_ADMIN_TIMEOUT):")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n\t%s", strings.ReplaceAll(usage, "\n", "\n\t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// connect builds the API client from the global flags.
func (c *cli) connect() int {
	base, err := baseURL(c.g.addr)
	if err != nil {
		printf(c.stderr, "voxctl: --addr: %v\n", err)
		return exitUsage
	}
	token := c.g.token
	if c.g.given["token"] && c.g.given["token-file"] {
		fmt.Fprintln(c.stderr, "voxctl: --token and --token-file are exclusive")
		return exitUsage
	}
	if token == "" && c.g.tokenFile != "" {
		b, err := os.ReadFile(c.g.tokenFile)
		if err != nil {
			printf(c.stderr, "voxctl: token file: %v\n", err)
			return exitUsage
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			printf(c.stderr, "voxctl: token file %s is empty\n", c.g.tokenFile)
			return exitUsage
		}
	}
	if c.g.timeout <= 0 {
		fmt.Fprintln(c.stderr, "voxctl: --timeout must be positive")
		return exitUsage
	}
	api, err := client.NewAPI(base, token)
	if err != nil {
		printf(c.stderr, "voxctl: --addr: %v\n", err)
		return exitUsage
	}
	api.HTTPClient = client.NewHTTPClient(c.g.timeout)
	c.api, c.base = api, base
	return exitOK
}

// baseURL turns --addr into the API's base URL: a URL is taken as is
// (http or https), host:port gets http://; an empty or unspecified host
// is this machine's loopback.
func baseURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("empty address")
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", err
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("%q: want http(s)://host[:port]", addr)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("%q: no query or fragment, please", addr)
		}
		return strings.TrimRight(u.String(), "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: want host:port or http(s)://host:port", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	if port == "" {
		return "", fmt.Errorf("%q: no port", addr)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// fail reports err and returns its exit code: 3 when the pod could not be
// reached, 2 for a 4xx, 1 for a 5xx or anything else.
func (c *cli) fail(err error) int {
	if errors.Is(err, context.Canceled) {
		printf(c.stderr, "voxctl %s: interrupted\n", c.cmd)
		return exitInterrupted
	}
	if ae, ok := errors.AsType[*client.APIError](err); ok {
		code := ae.Code
		if code == "" {
			code = "no code"
		}
		printf(c.stderr, "voxctl %s: %s refused: %s (HTTP %d, %s)\n", c.cmd, c.base, ae.Message, ae.Status, code)
		switch ae.Status {
		case 401, 403:
			fmt.Fprintln(c.stderr, "  (the admin API needs its token: --token, --token-file, $VOX_ADMIN_TOKEN or $VOX_ADMIN_TOKEN_FILE)")
		case 501:
			fmt.Fprintln(c.stderr, "  (this voxd does not support the command)")
		}
		if ae.Status >= 400 && ae.Status < 500 {
			return exitUsage
		}
		return exitFailed
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		printf(c.stderr, "voxctl %s: cannot reach vox at %s: %v\n", c.cmd, c.base, unreachableCause(ue))
		return exitUnreachable
	}
	printf(c.stderr, "voxctl %s: %v\n", c.cmd, err)
	return exitFailed
}

// unreachableCause is the useful part of a transport error.
func unreachableCause(ue *url.Error) error {
	if ue.Timeout() {
		return errors.New("no answer in time (--timeout)")
	}
	if oe, ok := errors.AsType[*net.OpError](ue.Err); ok && oe.Err != nil {
		return fmt.Errorf("%s: %w", oe.Op, oe.Err)
	}
	return ue.Err
}

// isUnreachable reports whether err is a transport failure (no answer).
func isUnreachable(err error) bool {
	if _, ok := errors.AsType[*client.APIError](err); ok {
		return false
	}
	_, ok := errors.AsType[*url.Error](err)
	return ok
}

// isShuttingDown reports whether err is the server's 503 shutting_down.
func isShuttingDown(err error) bool {
	ae, ok := errors.AsType[*client.APIError](err)
	return ok && ae.Code == "shutting_down"
}

// noArgs refuses positional arguments.
func (c *cli) noArgs() int {
	if len(c.args) > 0 {
		printf(c.stderr, "voxctl %s: unexpected argument %q (run 'voxctl %s --help')\n", c.cmd, c.args[0], c.cmd)
		return exitUsage
	}
	return exitOK
}

func commands() map[string]command {
	list := []command{statusCmd, sessionsCmd, acceptStopCmd, acceptResumeCmd, drainCmd, drainCancelCmd, reconnectCmd,
		podsCmd, whereCmd, routerStatusCmd, poolsCmd, poolWeightCmd, poolDrainCmd, podDrainCmd, drainsCmd}
	m := make(map[string]command, len(list))
	for _, c := range list {
		m[c.name] = c
	}
	return m
}
