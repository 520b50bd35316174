// Command bench-ingest measures aftermath's webhook ingest against a same-run
// baseline: a bare Echo server that only reads the body and answers 202. Both
// run as child processes on this machine, take the same signed PagerDuty V3
// bodies, and are driven in turn at maximum rate (closed loop) and at a fixed
// rate (open loop). The figures that matter are the ratios to the baseline,
// which cancel out most of what the machine itself contributes.
//
//	make bench-ingest [BENCH_FLAGS='-duration 15s -conns 32 -rate 1000']
//
// It needs a Redis (REDIS_URL or -redis, default redis://127.0.0.1:6379/0).
// It works under a key prefix of its own, bench-<random>, and deletes only
// the keys under that prefix when it ends; it never flushes the server.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"
)

// Targets.
const (
	targetThroughputRatio = 0.50                 // aftermath/baseline at max rate, at least
	targetP99             = 2 * time.Millisecond // at the fixed rate, below
	targetRSS             = 60_000_000           // bytes (60 MB) of peak RSS, below
	// targetCPURatio bounds aftermath's ingest CPU per accepted webhook
	// against the baseline's, at max rate (issue 23).
	targetCPURatio = 2.0
)

type config struct {
	redisURL string
	conns    int
	duration time.Duration
	warmup   time.Duration
	rate     float64
	rateCap  float64
	drain    time.Duration
	keep     bool
	serveArg string
	profile  string
	together bool
	pause    bool
	rounds   int
	sameLoad bool
	pdsim    bool
}

func main() { os.Exit(run()) }

func run() int {
	var cfg config
	flag.StringVar(&cfg.redisURL, "redis", "", "Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379/0)")
	flag.IntVar(&cfg.conns, "conns", 32, "concurrent closed-loop clients in max-rate mode")
	flag.DurationVar(&cfg.duration, "duration", 15*time.Second, "measured time of each mode on each server")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measured phase")
	flag.Float64Var(&cfg.rate, "rate", 1000, "requests per second in fixed-rate mode")
	flag.Float64Var(&cfg.rateCap, "max-rate-cap", 15000, "aftermath requests/s the pre-generated bodies cover in max-rate mode (more are generated on the fly, and reported)")
	flag.DurationVar(&cfg.drain, "drain", 5*time.Second, "after each aftermath phase, wait up to this long for the worker to drain the queue")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (binary and server logs)")
	flag.StringVar(&cfg.profile, "profile", "", "take aftermath's CPU and allocation profiles (pprof) during its measured phases into this directory, and print their top entries")
	flag.BoolVar(&cfg.together, "one-process", false, "run ingest and the queue worker in one aftermath process (serve's default roles) instead of two; the server's CPU column then includes the worker's")
	flag.IntVar(&cfg.rounds, "rounds", 3, "max-rate rounds, each the baseline then aftermath; the CPU and throughput ratios are the median of the rounds' (the machine's noise moves one round by 10 % or more)")
	flag.BoolVar(&cfg.sameLoad, "same-load", true, "after the max-rate rounds, run both servers at a fixed rate of 60% of aftermath's median max rate, the worker stopped: CPU per webhook at equal load; then the baseline alone at aftermath's median max rate")
	flag.BoolVar(&cfg.pdsim, "worker-pagerduty", true, "give the worker a PagerDuty simulator (in this process) to work against, paced by PagerDuty's rate limit as in production; false: no PAGERDUTY_API_TOKEN, so the worker parks every event in the dead-letter stream at full speed (runs before 2026-12-07 18:00)")
	flag.BoolVar(&cfg.pause, "pause-worker", false, "stop the worker process (SIGSTOP) while aftermath is measured and let it drain the queue after each phase, as a worker on other cores would")
	flag.StringVar(&cfg.serveArg, "serve-args", "", "diagnosis only: extra arguments for 'aftermath serve', space-separated (for example '--roles ingest'); the benchmark proper runs it with none")
	baselineAddr := flag.String("baseline-server", "", "internal: serve the baseline on this address")
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "Usage: go run ./tools/bench-ingest [flags]   (or: make bench-ingest BENCH_FLAGS='...')\n\n")
		flag.VisitAll(func(f *flag.Flag) {
			if f.Name == "baseline-server" {
				return
			}
			fmt.Fprintf(out, "  %s\n    \t%s", strings.TrimSpace("-"+f.Name+" "+flagType(f)), f.Usage)
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
	flag.Parse()
	if *baselineAddr != "" {
		return serveBaseline(*baselineAddr)
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench-ingest: unexpected arguments %q\n", flag.Args())
		return 2
	}
	if cfg.redisURL == "" {
		cfg.redisURL = os.Getenv("REDIS_URL")
	}
	if cfg.redisURL == "" {
		cfg.redisURL = "redis://127.0.0.1:6379/0"
	}
	switch {
	case cfg.conns < 1:
		fmt.Fprintln(os.Stderr, "bench-ingest: -conns must be at least 1")
		return 2
	case cfg.rounds < 1 || cfg.rounds > 9:
		fmt.Fprintln(os.Stderr, "bench-ingest: -rounds must be from 1 to 9")
		return 2
	case cfg.duration < time.Second:
		fmt.Fprintln(os.Stderr, "bench-ingest: -duration must be at least 1s")
		return 2
	case cfg.warmup < 0 || cfg.drain < 0:
		fmt.Fprintln(os.Stderr, "bench-ingest: -warmup and -drain must not be negative")
		return 2
	case cfg.rate < 1 || cfg.rate > 100_000:
		fmt.Fprintln(os.Stderr, "bench-ingest: -rate must be from 1 to 100000")
		return 2
	case cfg.rateCap < 0:
		fmt.Fprintln(os.Stderr, "bench-ingest: -max-rate-cap must not be negative")
		return 2
	}
	code, err := bench(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-ingest: %v\n", err)
	}
	return code
}

func flagType(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	return name
}

// run state shared by the phases and the report.
type state struct {
	cfg     config
	rdb     *redis.Client
	prefix  string
	machine machineInfo
	results []*result
	queue   []string
	sentAft int64
	lazyAft int64
	pregen  int
	genTime time.Duration
	rssAft  map[string]int64
	// rssBeforeSame is aftermath's RSS read before the same-load phase: the
	// RSS verdict is on the phases the target was set for, since an open
	// loop that outruns aftermath on a noisy machine piles up connections.
	rssBeforeSame map[string]int64
	rssWork       map[string]int64
	rssBase       map[string]int64
	rssSelf       map[string]int64
	metrics       []string
	logStats      logStats
	notes         []string
	prof          *profiler
	profTops      []string

	keysDeleted        int
	loadStart, loadEnd string
}

func bench(cfg config) (int, error) {
	started := time.Now()
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Building and signing take what they take (minutes on a busy
	// machine); from the servers' start the run stops by itself: every
	// phase is bounded, and so is the whole.
	ctx := sigCtx
	cleanupCtx := context.WithoutCancel(ctx)

	st := &state{cfg: cfg, loadStart: loadAvg()}
	st.machine = readMachineInfo(ctx)
	printHeader(os.Stdout, st)

	rdb, addr, err := redisConnect(ctx, cfg.redisURL)
	if err != nil {
		return 2, err
	}
	defer rdb.Close()
	st.rdb = rdb
	st.machine.redis = addr
	if info, err := rdb.InfoMap(ctx, "server").Result(); err == nil {
		st.machine.redis += " (Redis " + info["Server"]["redis_version"] + ")"
	}

	root, err := moduleRoot(ctx)
	if err != nil {
		return 2, err
	}
	tmp, err := os.MkdirTemp("", "bench-ingest-")
	if err != nil {
		return 2, err
	}
	defer func() {
		if cfg.keep {
			fmt.Printf("kept %s (binary and server logs)\n", tmp)
			return
		}
		_ = os.RemoveAll(tmp)
	}()

	t0 := time.Now()
	st.machine.tree = treeVersion(ctx, root)
	bin, err := buildAftermath(ctx, root, tmp)
	if err != nil {
		return 2, err
	}
	progress("built ./cmd/aftermath (tree %s) in %s", st.machine.tree, time.Since(t0).Round(10*time.Millisecond))

	random := make([]byte, 12+6+32)
	_, _ = rand.Read(random)
	st.prefix = "bench-" + hex.EncodeToString(random[12:18])
	secret := hex.EncodeToString(random[18:])
	gen := newGenerator(secret, random[:12])

	// Every aftermath request is a new event: pre-generate enough bodies for
	// the fixed-rate phases and for max-rate phases up to -max-rate-cap.
	perPhase := (cfg.warmup + cfg.duration).Seconds()
	st.pregen = int(cfg.rate*perPhase) + cfg.rounds*int(cfg.rateCap*perPhase) + 1000
	if cfg.sameLoad {
		st.pregen += int(cfg.rateCap / 2 * perPhase) // aftermath's max rate has been a third of the cap
	}
	t0 = time.Now()
	pre := gen.pregenerate(st.pregen)
	st.genTime = time.Since(t0)
	progress("signed %d distinct bodies (%d bytes each) in %s", len(pre), len(pre[0].body), st.genTime.Round(10*time.Millisecond))

	// Phases: fixed rate and the rounds, both servers each; with
	// -same-load, the same load (both) and Echo at aftermath's max rate.
	phaseRuns := 2 + 2*cfg.rounds
	if cfg.sameLoad {
		phaseRuns += 3
	}
	bound := time.Duration(phaseRuns)*(cfg.warmup+cfg.duration) + time.Duration(2+cfg.rounds)*cfg.drain + 2*time.Minute
	ctx, cancel := context.WithTimeout(sigCtx, bound)
	defer cancel()

	// aftermath: HTTP ingest in the measured process and the queue worker
	// in a second one (a production split: serve --roles), so that the
	// server's CPU column is ingest's alone; -one-process runs both roles
	// in one, serve's default.
	aftAddr, err := freeAddr()
	if err != nil {
		return 2, err
	}
	aftEnv := func(addr string, extra ...string) []string {
		return childEnv(append([]string{
			"REDIS_URL=" + cfg.redisURL,
			"AFTERMATH_REDIS_PREFIX=" + st.prefix,
			"PAGERDUTY_WEBHOOK_SECRETS=" + secret,
			"AFTERMATH_LISTEN_ADDR=" + addr,
		}, extra...)...)
	}
	var profEnv []string
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return 2, fmt.Errorf("-profile: %w", err)
		}
		// An admin token made up for the run: the profiles are behind it.
		tok := make([]byte, 32)
		_, _ = rand.Read(tok)
		token := hex.EncodeToString(tok)
		st.prof = newProfiler(cfg.profile, aftAddr, token)
		profEnv = []string{"AFTERMATH_ADMIN_TOKEN=" + token}
	}
	ingestArgs := []string{"serve"}
	if !cfg.together {
		ingestArgs = append(ingestArgs, "--roles", "ingest")
	}
	aft, err := startChild("aftermath", aftAddr, filepath.Join(tmp, "aftermath.log"), aftEnv(aftAddr, profEnv...),
		bin, append(ingestArgs, strings.Fields(cfg.serveArg)...)...)
	var worker *child
	if aft != nil {
		defer func() {
			if aft.alive() {
				_ = aft.stop(35 * time.Second)
			}
			if worker != nil && worker.alive() {
				_ = worker.stop(35 * time.Second)
			}
			if n, err := deletePrefix(cleanupCtx, rdb, st.prefix); err != nil {
				fmt.Fprintf(os.Stderr, "bench-ingest: deleting keys under %s: %v (delete them by hand)\n", st.prefix, err)
			} else if n > 0 {
				progress("deleted %d keys matching %s:*", n, st.prefix)
			}
		}()
	}
	if err != nil {
		return 2, err
	}
	progress("aftermath serve ready on %s (prefix %s)", aftAddr, st.prefix)
	if !cfg.together {
		workAddr, err := freeAddr()
		if err != nil {
			return 2, err
		}
		var pdEnv []string
		if cfg.pdsim {
			// The worker reads and writes PagerDuty as in production, paced
			// by its rate limit; the simulator knows none of the bench's
			// incidents, so each event ends as an unknown incident would.
			pd := pagerdutysim.NewServer(pagerdutysim.Options{})
			defer pd.Close()
			pdEnv = []string{"PAGERDUTY_API_URL=" + pd.URL(), "PAGERDUTY_API_TOKEN=" + pd.Token(), "PAGERDUTY_FROM_EMAIL=bench@example.com"}
		}
		worker, err = startChild("aftermath-worker", workAddr, filepath.Join(tmp, "aftermath-worker.log"), aftEnv(workAddr, pdEnv...),
			bin, "serve", "--roles", "worker")
		if err != nil {
			return 2, err
		}
		progress("aftermath serve --roles worker ready on %s", workAddr)
	}

	self, err := os.Executable()
	if err != nil {
		return 2, err
	}
	baseAddr, err := freeAddr()
	if err != nil {
		return 2, err
	}
	base, err := startChild("baseline", baseAddr, filepath.Join(tmp, "baseline.log"), childEnv(), self, "-baseline-server", baseAddr)
	if base != nil {
		defer func() {
			if base.alive() {
				_ = base.stop(10 * time.Second)
			}
		}()
	}
	if err != nil {
		return 2, err
	}
	progress("baseline ready on %s", baseAddr)

	client := &http.Client{Transport: newTransport(cfg.conns), Timeout: 10 * time.Second}
	// The same-load phase sends on at most -conns connections, as a
	// fixed-rate generator such as wrk2 does: a stall then queues requests
	// in the client (their latency still counts from the scheduled time)
	// instead of opening connection after connection, which made aftermath
	// spiral on a busy machine (hundreds of MB in connections).
	sameTransport := newTransport(cfg.conns)
	sameTransport.MaxConnsPerHost = cfg.conns
	sameClient := &http.Client{Transport: sameTransport, Timeout: 10 * time.Second}
	defer sameClient.CloseIdleConnections()
	baseT := &target{name: "baseline", url: "http://" + baseAddr + "/webhooks/pagerduty", expect: http.StatusAccepted, bodies: newBodySource(gen, pre, true)}
	aftT := &target{name: "aftermath", url: "http://" + aftAddr + "/webhooks/pagerduty", expect: http.StatusAccepted, bodies: newBodySource(gen, pre, false)}

	pidOf := func(t *target) int {
		if t == aftT {
			return aft.cmd.Process.Pid
		}
		return base.cmd.Process.Pid
	}
	workerPid := func(t *target) int {
		if t == aftT && worker != nil {
			return worker.cmd.Process.Pid
		}
		return 0
	}
	children := []*child{aft, base}
	if worker != nil {
		children = append(children, worker)
	}
	checkAlive := func() error {
		for _, c := range children {
			if !c.alive() {
				how := fmt.Sprint(c.waitErr)
				if c.waitErr == nil {
					how = "exit status 0, i.e. it was sent SIGTERM or SIGINT by something outside bench-ingest"
				}
				return fmt.Errorf("%s exited during the run (%s); its log:\n%s", c.name, how, c.logTail(20))
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped early: %v", context.Cause(ctx))
		}
		return nil
	}

	// Fixed rate first, so that aftermath's worker starts it with an empty
	// queue; then max rate, in rounds. Baseline before aftermath in each
	// round; the worker is stopped (SIGSTOP) while the baseline runs, so
	// that its backlog from aftermath's phases never takes the baseline's
	// CPU.
	type phase struct {
		name, queueNote, short string
		round                  int
		run                    func(context.Context, *http.Client, *target, time.Duration) *result
		baselineOnly           bool
	}
	phases := []phase{
		{fmt.Sprintf("fixed rate %.0f/s", cfg.rate), "after fixed rate: ", "fixed", 0,
			func(ctx context.Context, c *http.Client, t *target, d time.Duration) *result {
				return openLoop(ctx, c, t, cfg.rate, d)
			}, false},
	}
	for n := 1; n <= cfg.rounds; n++ {
		name, note := fmt.Sprintf("max rate, %d connections", cfg.conns), "after max rate: "
		if cfg.rounds > 1 {
			name += fmt.Sprintf(", round %d of %d", n, cfg.rounds)
			note = fmt.Sprintf("after max rate round %d: ", n)
		}
		phases = append(phases, phase{name, note, "max", n,
			func(ctx context.Context, c *http.Client, t *target, d time.Duration) *result {
				return closedLoop(ctx, c, t, cfg.conns, d)
			}, false})
	}
	stopWorker := func(stop bool) {
		if worker == nil {
			return
		}
		sig := syscall.SIGCONT
		if stop {
			sig = syscall.SIGSTOP
		}
		_ = worker.cmd.Process.Signal(sig)
	}
	for i := 0; i < len(phases); i++ {
		ph := phases[i]
		targets := []*target{baseT, aftT}
		if ph.baselineOnly {
			targets = targets[:1]
		}
		for _, t := range targets {
			if err := checkAlive(); err != nil {
				return 1, err
			}
			// The worker never runs during the baseline, nor at the same
			// load (there both servers get a machine without it, and its
			// backlog from the rounds would slow aftermath alone).
			paused := t == baseT || cfg.pause || ph.short == "same" || ph.short == "at-max"
			stopWorker(paused)
			if cfg.warmup > 0 {
				progress("%s: %s, warm-up %s", t.name, ph.name, cfg.warmup)
				ph.run(ctx, client, t, cfg.warmup)
			}
			progress("%s: %s, measuring %s", t.name, ph.name, cfg.duration)
			wait := func() {}
			if t == aftT && st.prof != nil && ph.round <= 1 {
				wait = st.prof.during(ctx, ph.short, cfg.duration)
			}
			var before buckets
			var ownErr error
			if t == aftT {
				before, ownErr = scrapeOwn(aftAddr)
			}
			m := startCPU(ctx, rdb, pidOf(t), workerPid(t))
			r := ph.run(ctx, client, t, cfg.duration)
			r.cpu = m.stop()
			stopWorker(false) // (on any early end, child.stop continues it)
			r.round = ph.round
			switch ph.short {
			case "same":
				r.mode = "same-load"
			case "at-max":
				r.mode = "at-aftermath-max"
			}
			wait()
			if t == aftT {
				r.own = ownPhase(aftAddr, before, ownErr)
			}
			st.results = append(st.results, r)
			if t == aftT {
				st.queue = append(st.queue, ph.queueNote+waitDrain(ctx, rdb, st.prefix, cfg.drain))
			}
		}
		if ph.round == cfg.rounds && cfg.sameLoad {
			st.rssBeforeSame = procStatus(aft.cmd.Process.Pid, "VmHWM", "VmRSS")
			if rate := sameLoadRate(st.results); rate >= 1 {
				phases = append(phases, phase{fmt.Sprintf("same load, fixed rate %.0f/s on %d connections", rate, cfg.conns), "after the same load: ", "same", 0,
					func(ctx context.Context, _ *http.Client, t *target, d time.Duration) *result {
						return openLoop(ctx, sameClient, t, rate, d)
					}, false})
			}
			// The baseline alone at aftermath's max rate: what bare Echo
			// costs a request at the rate aftermath reached (Echo keeps up
			// with it easily; aftermath at 100 % would fall behind).
			if rate := math.Floor(aftermathMaxRate(st.results)); rate >= 1 {
				phases = append(phases, phase{fmt.Sprintf("at aftermath's max rate, fixed rate %.0f/s on %d connections", rate, cfg.conns), "", "at-max", 0,
					func(ctx context.Context, _ *http.Client, t *target, d time.Duration) *result {
						return openLoop(ctx, sameClient, t, rate, d)
					}, true})
			}
		}
	}
	if err := checkAlive(); err != nil {
		return 1, err
	}
	client.CloseIdleConnections()
	st.sentAft = aftT.bodies.next.Load()
	st.lazyAft = aftT.bodies.lazy.Load()

	// Peak RSS just before stopping; aftermath's own counters as a cross-check.
	st.rssAft = procStatus(aft.cmd.Process.Pid, "VmHWM", "VmRSS")
	if worker != nil {
		st.rssWork = procStatus(worker.cmd.Process.Pid, "VmHWM", "VmRSS")
		st.metrics = append(st.metrics, scrapeMetrics(worker.addr)...)
	}
	st.rssBase = procStatus(base.cmd.Process.Pid, "VmHWM", "VmRSS")
	st.rssSelf = procStatus(os.Getpid(), "VmHWM")
	st.metrics = append(scrapeMetrics(aftAddr), st.metrics...)
	st.loadEnd = loadAvg()

	if err := base.stop(10 * time.Second); err != nil {
		st.notes = append(st.notes, err.Error())
	}
	t0 = time.Now()
	if err := aft.stop(35 * time.Second); err != nil {
		st.notes = append(st.notes, err.Error())
	}
	if worker != nil {
		if err := worker.stop(35 * time.Second); err != nil {
			st.notes = append(st.notes, err.Error())
		}
	}
	progress("both servers stopped (aftermath took %s after SIGTERM)", time.Since(t0).Round(time.Millisecond))
	st.queue = append(st.queue, "after aftermath stopped: "+queueState(cleanupCtx, rdb, st.prefix))
	if n, err := deletePrefix(cleanupCtx, rdb, st.prefix); err != nil {
		st.notes = append(st.notes, fmt.Sprintf("deleting keys under %s: %v (delete them by hand)", st.prefix, err))
	} else {
		st.keysDeleted = n
	}
	st.logStats = readLogStats(aft.logPath)
	if worker != nil {
		st.logStats.add(readLogStats(worker.logPath))
	}
	if st.prof != nil {
		st.profTops = profileTops(cleanupCtx, st.prof)
	}

	fmt.Println()
	failed := report(os.Stdout, st)
	fmt.Printf("\ntotal run time %s\n", time.Since(started).Round(100*time.Millisecond))
	if ctx.Err() != nil {
		return 1, fmt.Errorf("run cut short: %w", context.Cause(ctx))
	}
	if failed {
		return 1, nil
	}
	return 0, nil
}

func progress(format string, args ...any) {
	fmt.Printf("[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// queueState describes the queue under prefix: entries in the stream (waiting
// or in progress), pending (delivered, not acknowledged), dead-lettered.
func queueState(ctx context.Context, rdb *redis.Client, prefix string) string {
	n, p, d, err := queueCounts(ctx, rdb, prefix)
	if err != nil {
		return "unknown: " + err.Error()
	}
	return fmt.Sprintf("XLEN %d (pending %d, dead-lettered %d)", n, p, d)
}

func queueCounts(ctx context.Context, rdb *redis.Client, prefix string) (length, pending, dead int64, err error) {
	stream := prefix + ":{queue}:events"
	if length, err = rdb.XLen(ctx, stream).Result(); err != nil {
		return
	}
	if dead, err = rdb.XLen(ctx, prefix+":{queue}:dead").Result(); err != nil {
		return
	}
	if x, perr := rdb.XPending(ctx, stream, "workers").Result(); perr == nil {
		pending = x.Count
	}
	return
}

// waitDrain reports the queue now, then waits up to max for the worker to
// empty it and reports how far it got.
func waitDrain(ctx context.Context, rdb *redis.Client, prefix string, max time.Duration) string {
	first, _, _, err := queueCounts(ctx, rdb, prefix)
	if err != nil {
		return "unknown: " + err.Error()
	}
	s := fmt.Sprintf("XLEN %d", first)
	if first == 0 || max <= 0 {
		return s
	}
	start := time.Now()
	last := first
	for time.Since(start) < max && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		if last, _, _, err = queueCounts(ctx, rdb, prefix); err != nil || last == 0 {
			break
		}
	}
	el := time.Since(start)
	rate := float64(first-last) / el.Seconds()
	s += fmt.Sprintf(", %s later XLEN %d (worker drained %.0f entries/s with no traffic", el.Round(100*time.Millisecond), last, rate)
	if last > 0 && rate > 0 {
		s += fmt.Sprintf("; about %.0fs more to empty", float64(last)/rate)
	}
	return s + ")"
}

// scrapeMetrics returns aftermath's non-zero webhook and processing counters.
func scrapeMetrics(addr string) []string {
	body, err := getMetrics(addr)
	if err != nil {
		return []string{"GET /metrics: " + err.Error()}
	}
	defer body.Close()
	var out []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		if (strings.HasPrefix(line, "aftermath_webhooks_total{") || strings.HasPrefix(line, "aftermath_processing_total{") ||
			strings.HasPrefix(line, "aftermath_processing_panics_total") || strings.HasPrefix(line, "aftermath_queue_reclaimed_total")) &&
			!strings.HasSuffix(line, " 0") {
			out = append(out, line)
		}
	}
	return out
}

// getMetrics opens aftermath's /metrics, read up to 4 MiB.
func getMetrics(addr string) (io.ReadCloser, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, 4<<20), resp.Body}, nil
}

type machineInfo struct {
	nproc   int
	cpu     string
	memory  string
	kernel  string
	goVer   string
	redis   string
	tree    string
	command string
	date    string
}

func readMachineInfo(ctx context.Context) machineInfo {
	m := machineInfo{nproc: runtime.NumCPU(), cpu: "unknown", memory: "unknown", date: time.Now().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.goVer = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	} else {
		m.goVer = runtime.Version() + " (bench-ingest's own)"
	}
	m.command = "go run ./tools/bench-ingest"
	for _, a := range os.Args[1:] {
		m.command += " " + shellQuote(a)
	}
	if os.Getenv("MAKELEVEL") != "" {
		m.command += "   (via make bench-ingest)"
	}
	return m
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>*?()[]{}!#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sameLoadRate is the rate of the same-load phase: 60 % of aftermath's
// median throughput over the max-rate rounds, so that aftermath keeps up
// and both servers answer the same requests per second. CPU per request
// falls as the rate rises (more work per wake-up of the poller, the
// scheduler and the kernel), so only at an equal rate does the CPU ratio
// compare the same thing for both.
func sameLoadRate(results []*result) float64 {
	return math.Floor(0.6 * aftermathMaxRate(results))
}

// aftermathMaxRate is aftermath's median throughput over the max-rate
// rounds.
func aftermathMaxRate(results []*result) float64 {
	var tputs []float64
	for _, r := range results {
		if r.target == "aftermath" && r.mode == "max-rate" {
			tputs = append(tputs, r.throughput())
		}
	}
	return median(tputs)
}
