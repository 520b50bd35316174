// Command aftermath turns resolved PagerDuty incidents into the post-incident
// process. This file parses the command line only; app does the work of
// serve, and internal/commands that of the other commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aftermath-dev/aftermath/app"
	"github.com/aftermath-dev/aftermath/cmd/aftermath/internal/commands"
	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/internal/logbuf"
	"github.com/aftermath-dev/aftermath/rules"
)

// serveEnvironment is what serve --help says of the environment, for an
// operator with the binary and no README at hand.
const serveEnvironment = `Environment (secrets only from here; README.md's "Configuration" table, in the source
repository, describes every variable):
  PAGERDUTY_WEBHOOK_SECRETS     required: the webhook subscriptions' signing secrets, comma-separated
  PAGERDUTY_API_TOKEN, PAGERDUTY_FROM_EMAIL   read incidents; write notes as this PagerDuty user
  JIRA_BASE_URL with JIRA_EMAIL and JIRA_API_TOKEN (Cloud) or JIRA_PAT (Data Center)
  REDIS_URL, REDIS_MODE         unset: an embedded in-memory Redis that loses everything on exit
  AFTERMATH_ADMIN_TOKEN         the admin API and the overview (32+ characters: openssl rand -hex 32)
  AFTERMATH_RULES, AFTERMATH_LISTEN_ADDR (:8080), JIRA_WEBHOOK_SECRET, SMTP_*, AFTERMATH_TRUSTED_PROXIES`

func main() {
	os.Exit(run(os.Args[1:], environ(), os.Stdout, os.Stderr))
}

// run returns the exit code: 0 done, 1 failed, 2 bad usage or configuration.
func run(args []string, env map[string]string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-v") {
		args = append([]string{"version"}, args[1:]...)
	}
	return commandTable().exec(args, env, stdout, stderr)
}

// commandTable is the command table: every command with its usage block, its
// flags and what runs it. A new command or subcommand is one more entry;
// its --help, `aftermath help` and the top-level usage follow.
func commandTable() *command {
	root := &command{
		about: "The post-incident process for resolved PagerDuty incidents, configured from the environment (see README.md).",
		subs: []*command{
			{name: "serve", usage: []usageLine{{syntax: "serve [flags]"}}, flags: serve,
				about: "HTTP server and queue workers, configured from the environment", more: serveEnvironment},
			{name: "rules", about: "check a rules file, and what it gives one incident", subs: []*command{
				{name: "rules check", usage: []usageLine{{syntax: "rules check [FILE]"}}, maxArgs: 1, flags: rulesCheck,
					about: "validate a rules file (default: $AFTERMATH_RULES, else the built-in rules)"},
				{name: "rules explain", usage: []usageLine{{syntax: "rules explain --incident-json FILE [--rules FILE]"}}, flags: rulesExplain,
					about: "what the rules give one incident (PagerDuty's incident JSON), and why"},
			}},
			{name: "plan", usage: []usageLine{{syntax: "plan --incident ID [--json]"}}, flags: plan,
				about: "what resolving an incident would do under the rules; writes nothing"},
			{name: "replay", flags: replay, usage: []usageLine{
				{"replay --incident ID", "queue one incident's resolution whose webhook was missed"},
				{"replay --since 72h [--yes]", "list the resolutions of a window that have no record; --yes queues them"},
				{"replay --dead-letters", "queue every dead-lettered entry again"},
			}, about: "queue what aftermath missed: one incident, a window, or the dead letters"},
			{name: "demo", usage: []usageLine{{syntax: "demo [--keep-running] [--json] [--dir DIR]"}}, flags: demo,
				about: "the whole pipeline on this machine, with nothing configured", subs: []*command{
					{name: "demo advance", usage: []usageLine{{syntax: "demo advance --dir DIR --to in-review|reviewed [--epic KEY]"}}, flags: demoAdvance,
						about: "move a post-mortem of a demo kept running to In Review or Reviewed, and show what aftermath does"},
				}},
			{name: "version", usage: []usageLine{{syntax: "version"}}, flags: version, about: "print the version"},
		},
	}
	help := &command{name: "help", usage: []usageLine{{syntax: "help [COMMAND [SUBCOMMAND]]"}}, maxArgs: 2,
		about: "print the usage of aftermath or of a command",
		flags: func(*flag.FlagSet) action {
			return func(c *call) int {
				target := find(root, c.args)
				if target == nil {
					return c.usageError("unknown command %q", strings.Join(c.args, " "))
				}
				fs, _ := target.flagSet()
				target.writeUsage(c.stdout, fs)
				return 0
			}
		}}
	root.subs = append(root.subs, help)
	return root
}

func version(*flag.FlagSet) action {
	return func(c *call) int {
		fmt.Fprintf(c.stdout, "aftermath %s (%s)\n", app.Version, runtime.Version())
		return 0
	}
}

// logDelay is how long serve's log lines below WARN may wait to be written
// with the lines that follow them.
const logDelay = 5 * time.Millisecond

func serve(fs *flag.FlagSet) action {
	roles := fs.String("roles", "ingest,worker", "what this process does: ingest (HTTP), worker (queue), or both")
	workers := fs.Int("workers", 4, "queue entries processed at once")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	stopTimeout := fs.Duration("stop-timeout", 30*time.Second, "how long a SIGTERM waits for in-flight work before exiting")
	return func(c *call) int {
		stderr := c.stderr
		opts := app.Options{}
		for _, r := range strings.Split(*roles, ",") {
			switch strings.TrimSpace(r) {
			case "ingest":
				opts.Ingest = true
			case "worker":
				opts.Worker = true
			default:
				fmt.Fprintf(stderr, "aftermath: --roles: unknown role %q (want ingest, worker or both)\n", r)
				return 2
			}
		}
		if *workers < 1 {
			fmt.Fprintln(stderr, "aftermath: --workers: must be at least 1")
			return 2
		}
		lvl, ok := logLevel(*level, stderr)
		if !ok {
			return 2
		}

		// Every problem at once: serve's own requirements beside Load's.
		cfg, err := config.Load(c.env)
		if opts.Ingest {
			err = errors.Join(err, cfg.ValidateServe())
		}
		if err != nil {
			return configErrors(err, stderr)
		}
		opts.WorkerConfig.Concurrency = *workers
		// The stop timeout bounds the whole stop: in-flight work gets most of it,
		// the rest is for releasing what did not finish and closing.
		opts.WorkerConfig.ShutdownTimeout = max(*stopTimeout*3/4, time.Second)
		opts.HTTPShutdownTimeout = max(*stopTimeout/2, time.Second)
		// Lines are gathered for a few milliseconds into one write (a write
		// per webhook was a tenth of ingest's CPU); a WARN or worse writes
		// everything out at once, and so does the stop.
		lines := logbuf.New(stderr, logDelay)
		defer lines.Close()
		opts.Logger = slog.New(logbuf.Handler(slog.NewJSONHandler(lines, &slog.HandlerOptions{Level: lvl}), lines, slog.LevelWarn))

		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		err = app.Serve(ctx, cfg, opts, hup, *stopTimeout)
		lines.Close() // what follows writes to stderr directly
		if err != nil && !errors.Is(err, context.Canceled) {
			if rulesErrors(err, stderr) {
				return 2
			}
			// A bad setting found only at start (the listen address in
			// use) is one line naming the variable, like the others.
			if len(config.VarErrors(err)) > 0 {
				return configErrors(err, stderr)
			}
			opts.Logger.Error("serve failed", "err", err)
			return 1
		}
		return 0
	}
}

func plan(fs *flag.FlagSet) action {
	incident := fs.String("incident", "", "PagerDuty incident ID, e.g. Q1ABCDEF")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	return func(c *call) int {
		if *incident == "" {
			return c.usageError("--incident is required")
		}
		cfg, log, code := commandSetup(*level, c.env, c.stderr)
		if code != 0 {
			return code
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err := commands.Plan(ctx, cfg, *incident, *asJSON, c.stdout, log)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, commands.ErrNoPagerDutyToken):
			fmt.Fprintf(c.stderr, "aftermath: %v\n", err)
			return 2
		case rulesErrors(err, c.stderr):
			return 2
		}
		fmt.Fprintf(c.stderr, "aftermath: %v\n", err)
		return 1
	}
}

func replay(fs *flag.FlagSet) action {
	incident := fs.String("incident", "", "PagerDuty incident ID to queue, e.g. Q1ABCDEF")
	since := fs.Duration("since", 0, "list (and with --yes queue) every resolution in this window with no record, e.g. 72h")
	yes := fs.Bool("yes", false, "with --since: queue what is listed")
	dead := fs.Bool("dead-letters", false, "queue every dead-lettered entry again (its retry horizon starts again)")
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	return func(c *call) int {
		modes := 0
		for _, on := range []bool{*incident != "", *since > 0, *dead} {
			if on {
				modes++
			}
		}
		switch {
		case modes == 0:
			return c.usageError("want one of --incident, --since or --dead-letters")
		case modes > 1:
			return c.usageError("--incident, --since and --dead-letters do not go together")
		case *yes && *since <= 0:
			return c.usageError("--yes goes with --since")
		}
		cfg, log, code := commandSetup(*level, c.env, c.stderr)
		if code != 0 {
			return code
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err := commands.Replay(ctx, cfg, commands.ReplayOptions{Incident: *incident, Since: *since, Yes: *yes, DeadLetters: *dead}, c.stdout, log)
		if err != nil {
			fmt.Fprintf(c.stderr, "aftermath: %v\n", err)
			if errors.Is(err, commands.ErrNoRedisURL) || errors.Is(err, commands.ErrNoPagerDutyToken) {
				return 2
			}
			return 1
		}
		return 0
	}
}

func demo(fs *flag.FlagSet) action {
	keep := fs.Bool("keep-running", false, "keep everything up after the report and print the URLs, until Ctrl-C")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	dir := fs.String("dir", "", "directory for the post-mortem page, the meeting's calendar hold and the messages sent (default: a new temporary directory)")
	level := fs.String("log-level", "", "log aftermath's own lines to stderr at this level (default: none)")
	page := fs.String("page", "jira", "where the post-mortem page lives: jira (the epic's description) or confluence (the Confluence simulator runs too)")
	return func(c *call) int {
		opts := commands.DemoOptions{KeepRunning: *keep, JSON: *asJSON, Dir: *dir, Command: selfCommand(), Page: *page}
		if *level != "" {
			lvl, ok := logLevel(*level, c.stderr)
			if !ok {
				return 2
			}
			opts.Logger = slog.New(slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: lvl}))
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := commands.Demo(ctx, opts, c.stdout); err != nil {
			fmt.Fprintf(c.stderr, "aftermath demo: %v\n", err)
			return 1
		}
		return 0
	}
}

func demoAdvance(fs *flag.FlagSet) action {
	dir := fs.String("dir", "", "the directory of the demo kept running (demo --keep-running prints it)")
	to := fs.String("to", "", "where the epic goes: in-review or reviewed")
	epic := fs.String("epic", "", "the epic to move (default: the demo's post-mortem)")
	return func(c *call) int {
		switch {
		case *dir == "":
			return c.usageError("--dir is required")
		case commands.DemoTargets[*to] == "":
			return c.usageError("--to must be in-review or reviewed")
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := commands.DemoAdvance(ctx, commands.DemoAdvanceOptions{Dir: *dir, To: *to, Epic: *epic}, c.stdout); err != nil {
			fmt.Fprintf(c.stderr, "aftermath demo advance: %v\n", err)
			return 1
		}
		return 0
	}
}

// selfCommand is how a printed command calls this program: its path as
// started, or the go command's when `go run` built it into a temporary
// directory that goes away with it.
func selfCommand() string {
	self := os.Args[0]
	if strings.Contains(filepath.ToSlash(self), "/go-build") {
		return "go run ./cmd/aftermath"
	}
	if !strings.ContainsRune(self, filepath.Separator) {
		return self // found on PATH
	}
	if abs, err := filepath.Abs(self); err == nil {
		return abs
	}
	return self
}

func logLevel(s string, stderr io.Writer) (slog.Level, bool) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s)); err != nil {
		fmt.Fprintf(stderr, "aftermath: --log-level: %q is not debug, info, warn or error\n", s)
		return lvl, false
	}
	return lvl, true
}

// configErrors prints one line per bad variable and returns exit code 2.
func configErrors(err error, stderr io.Writer) int {
	for _, ve := range config.VarErrors(err) {
		fmt.Fprintf(stderr, "aftermath: %s\n", ve)
	}
	if len(config.VarErrors(err)) == 0 {
		fmt.Fprintf(stderr, "aftermath: %v\n", err)
	}
	return 2
}

// rulesErrors prints a rules file that does not load as a configuration
// error, like a bad variable: every problem, one per line. It reports
// whether err was one.
func rulesErrors(err error, stderr io.Writer) bool {
	var re *rules.Error
	var rerr *rules.ReadError
	switch {
	case errors.As(err, &re):
		for _, p := range re.Problems {
			fmt.Fprintf(stderr, "aftermath: AFTERMATH_RULES: %s\n", p)
		}
		return true
	case errors.As(err, &rerr):
		fmt.Fprintf(stderr, "aftermath: AFTERMATH_RULES: %v\n", rerr)
		return true
	}
	return false
}

func rulesCheck(*flag.FlagSet) action {
	return func(c *call) int {
		path := c.env["AFTERMATH_RULES"]
		if len(c.args) == 1 {
			path = c.args[0]
		}
		return commands.RulesCheck(path, c.stdout)
	}
}

func rulesExplain(fs *flag.FlagSet) action {
	incident := fs.String("incident-json", "", "file holding the incident as PagerDuty's GET /incidents/{id} returns it")
	rulesPath := fs.String("rules", "", "rules file (default: $AFTERMATH_RULES, else the built-in rules)")
	return func(c *call) int {
		if *incident == "" {
			return c.usageError("--incident-json is required")
		}
		path := *rulesPath
		if path == "" {
			path = c.env["AFTERMATH_RULES"]
		}
		if err := commands.RulesExplain(path, *incident, time.Now(), c.stdout); err != nil {
			fmt.Fprintf(c.stderr, "aftermath: %v\n", err)
			return 1
		}
		return 0
	}
}

func environ() map[string]string {
	m := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// commandSetup reads the configuration and makes the JSON logger of a
// one-shot command (plan, replay). code is the exit code when it cannot.
func commandSetup(level string, env map[string]string, stderr io.Writer) (config.Config, *slog.Logger, int) {
	lvl, ok := logLevel(level, stderr)
	if !ok {
		return config.Config{}, nil, 2
	}
	cfg, err := config.Load(env)
	if err != nil {
		return cfg, nil, configErrors(err, stderr)
	}
	return cfg, slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl})), 0
}
