// Command aftermath turns resolved PagerDuty incidents into the post-incident
// process. This file parses the command line only; app does the work.
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
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aftermath-dev/aftermath/app"
	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/rules"
)

const usage = `aftermath turns resolved PagerDuty incidents into the post-incident process.

Usage:
  aftermath serve [flags]                     HTTP server and queue workers (configured from the environment)
  aftermath rules check [FILE]                validate a rules file (default: $AFTERMATH_RULES, else the built-in rules)
  aftermath rules explain --incident-json F   what the rules give one incident (PagerDuty's GET /incidents/{id} JSON), and why
  aftermath plan --incident ID [--json]       what resolving an incident would do under the rules; nothing is written
  aftermath replay --incident ID              queue one incident's resolution whose webhook was missed
  aftermath replay --since 72h [--yes]        list the resolutions in a window aftermath has no record of; queue them with --yes
  aftermath replay --dead-letters             queue every dead-lettered entry again
  aftermath demo [--keep-running] [--json]    the whole pipeline on this machine: simulators, embedded Redis, one signed webhook
  aftermath version                           print the version

Run "aftermath serve -h" for the serve flags; see README.md for the environment.
`

func main() {
	os.Exit(run(os.Args[1:], environ(), os.Stdout, os.Stderr))
}

// run returns the exit code: 0 done, 1 failed, 2 bad usage or configuration.
func run(args []string, env map[string]string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], env, stderr)
	case "rules":
		return rulesCmd(args[1:], env, stdout, stderr)
	case "plan":
		return plan(args[1:], env, stdout, stderr)
	case "replay":
		return replay(args[1:], env, stdout, stderr)
	case "demo":
		return demo(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "aftermath %s (%s)\n", app.Version, runtime.Version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "aftermath: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, env map[string]string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	roles := fs.String("roles", "ingest,worker", "what this process does: ingest (HTTP), worker (queue), or both")
	workers := fs.Int("workers", 4, "queue entries processed at once")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	stopTimeout := fs.Duration("stop-timeout", 30*time.Second, "how long a SIGTERM waits for in-flight work before exiting")
	if err := fs.Parse(args); err != nil {
		return 2
	}
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

	cfg, err := config.Load(env)
	if err == nil && opts.Ingest {
		err = cfg.ValidateServe()
	}
	if err != nil {
		return configErrors(err, stderr)
	}
	opts.WorkerConfig.Concurrency = *workers
	// The stop timeout bounds the whole stop: in-flight work gets most of it,
	// the rest is for releasing what did not finish and closing.
	opts.WorkerConfig.ShutdownTimeout = max(*stopTimeout*3/4, time.Second)
	opts.HTTPShutdownTimeout = max(*stopTimeout/2, time.Second)
	opts.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := app.Serve(ctx, cfg, opts, hup, *stopTimeout); err != nil && !errors.Is(err, context.Canceled) {
		if rulesErrors(err, stderr) {
			return 2
		}
		if len(config.VarErrors(err)) > 0 {
			return configErrors(err, stderr)
		}
		opts.Logger.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

func plan(args []string, env map[string]string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	incident := fs.String("incident", "", "PagerDuty incident ID, e.g. Q1ABCDEF")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *incident == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: aftermath plan --incident ID [--json]")
		return 2
	}
	cfg, log, code := commandSetup(*level, env, stderr)
	if code != 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := app.Plan(ctx, cfg, *incident, *asJSON, stdout, log)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, app.ErrNoPagerDutyToken):
		fmt.Fprintf(stderr, "aftermath: %v\n", err)
		return 2
	case rulesErrors(err, stderr):
		return 2
	}
	fmt.Fprintf(stderr, "aftermath: %v\n", err)
	return 1
}

func replay(args []string, env map[string]string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	incident := fs.String("incident", "", "PagerDuty incident ID to queue, e.g. Q1ABCDEF")
	since := fs.Duration("since", 0, "list (and with --yes queue) every resolution in this window with no record, e.g. 72h")
	yes := fs.Bool("yes", false, "with --since: queue what is listed")
	dead := fs.Bool("dead-letters", false, "queue every dead-lettered entry again (its retry horizon starts again)")
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	modes := 0
	for _, on := range []bool{*incident != "", *since > 0, *dead} {
		if on {
			modes++
		}
	}
	if modes != 1 || fs.NArg() > 0 || (*yes && *since <= 0) {
		fmt.Fprintln(stderr, "usage: aftermath replay --incident ID | --since DURATION [--yes] | --dead-letters")
		return 2
	}
	cfg, log, code := commandSetup(*level, env, stderr)
	if code != 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := app.Replay(ctx, cfg, app.ReplayOptions{Incident: *incident, Since: *since, Yes: *yes, DeadLetters: *dead}, stdout, log)
	if err != nil {
		fmt.Fprintf(stderr, "aftermath: %v\n", err)
		if errors.Is(err, app.ErrNoRedisURL) || errors.Is(err, app.ErrNoPagerDutyToken) {
			return 2
		}
		return 1
	}
	return 0
}

func demo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep-running", false, "keep everything up after the report and print the URLs, until Ctrl-C")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	dir := fs.String("dir", "", "directory for the rendered post-mortem page (default: a new temporary directory)")
	level := fs.String("log-level", "", "log aftermath's own lines to stderr at this level (default: none)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 2
	}
	opts := app.DemoOptions{KeepRunning: *keep, JSON: *asJSON, Dir: *dir}
	if *level != "" {
		lvl, ok := logLevel(*level, stderr)
		if !ok {
			return 2
		}
		opts.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := app.Demo(ctx, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "aftermath demo: %v\n", err)
		return 1
	}
	return 0
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

func rulesCmd(args []string, env map[string]string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "aftermath rules: want check or explain\n\n"+usage)
		return 2
	}
	switch args[0] {
	case "check":
		fs := flag.NewFlagSet("rules check", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 1 {
			fmt.Fprintln(stderr, "usage: aftermath rules check [FILE]")
			return 2
		}
		path := env["AFTERMATH_RULES"]
		if fs.NArg() == 1 {
			path = fs.Arg(0)
		}
		return app.RulesCheck(path, stdout)
	case "explain":
		fs := flag.NewFlagSet("rules explain", flag.ContinueOnError)
		fs.SetOutput(stderr)
		incident := fs.String("incident-json", "", "file holding the incident as PagerDuty's GET /incidents/{id} returns it")
		rulesPath := fs.String("rules", env["AFTERMATH_RULES"], "rules file (default: $AFTERMATH_RULES, else the built-in rules)")
		if err := fs.Parse(args[1:]); err != nil || *incident == "" || fs.NArg() > 0 {
			fmt.Fprintln(stderr, "usage: aftermath rules explain --incident-json FILE [--rules FILE]")
			return 2
		}
		if err := app.RulesExplain(*rulesPath, *incident, time.Now(), stdout); err != nil {
			fmt.Fprintf(stderr, "aftermath: %v\n", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "aftermath rules: unknown command %q (want check or explain)\n", args[0])
		return 2
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
