// Package app wires aftermath's parts into a running process and owns its
// lifecycle: Start, Stop, and Serve for the `aftermath serve` command.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/catchup"
	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/internal/embedredis"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
	"github.com/aftermath-dev/aftermath/workflow"
)

// The integrations and the store implement what the workflow needs of them.
var (
	_ workflow.PagerDuty = (*pagerduty.Client)(nil)
	_ workflow.Jira      = (*jira.Client)(nil)
	_ workflow.Store     = (*store.Store)(nil)
	_ queue.Store        = (*store.Store)(nil)
)

// Version is set at build time with -ldflags "-X .../app.Version=...".
var Version = "dev"

// Options are the process's settings that do not come from the environment.
type Options struct {
	// Ingest serves the HTTP routes; Worker consumes the queue. Serve runs both
	// unless told otherwise.
	Ingest, Worker bool
	WorkerConfig   queue.Config
	// Processor replaces the default processing (tests).
	Processor queue.Processor
	Logger    *slog.Logger
	// HTTPShutdownTimeout bounds how long in-flight requests may finish.
	HTTPShutdownTimeout time.Duration
	// DeadlineTick is how often the deadline scheduler looks for due
	// reminders (1s; tests).
	DeadlineTick time.Duration
	// CatchUp tunes the catch-up sweep (tests, demo); its Rules and Owner
	// are set by New.
	CatchUp catchup.Config
	// Now is the clock of the store, the workflow, the deadlines and the
	// handlers (time.Now). The demo sets it back to play its earlier
	// post-mortems as they happened; the workers' backoff keeps real time.
	Now func() time.Time
	// Getenv reads the Slack webhook URLs the rules name, when a message is
	// sent (os.LookupEnv). The demo hands its receiver's URL this way
	// rather than through the process's environment.
	Getenv func(string) (string, bool)
}

// App is one aftermath process.
type App struct {
	cfg  config.Config
	opts Options
	log  *slog.Logger

	mini  *embedredis.Server
	rdb   redis.UniversalClient // ingest, admin API, metrics
	wrdb  redis.UniversalClient // workers: their blocking reads never starve ingest of connections
	store *store.Store
	reg   *prometheus.Registry
	rules *rules.Manager

	srv      *http.Server
	listener net.Listener
	worker   *queue.Worker
	sweeper  *catchup.Sweeper
	keeper   *deadlines.Keeper // the worker's scheduler and status sync

	// The last readiness probe (see ready); probeQueue is the store's.
	readyMu    sync.Mutex
	readyAt    time.Time
	readyErr   error
	probeQueue func(context.Context) error
	jira       *jira.Client // nil without JIRA_BASE_URL

	stopWorker context.CancelFunc
	done       sync.WaitGroup
	serveErr   chan error
}

// New builds the process from a validated configuration. Without REDIS_URL it
// starts an embedded in-memory Redis and warns that state is lost on exit.
func New(cfg config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPShutdownTimeout <= 0 {
		opts.HTTPShutdownTimeout = 10 * time.Second
	}
	a := &App{cfg: cfg, opts: opts, log: opts.Logger, reg: prometheus.NewRegistry(), serveErr: make(chan error, 1)}

	// Rules first: a process must not start on rules it cannot read.
	var err error
	if a.rules, err = rules.NewManager(cfg.RulesPath, a.log, a.reg); err != nil {
		return nil, err
	}
	a.log.Info("rules loaded", "summary", a.rules.Current().Summary())
	a.warnUnset()

	rcfg := cfg
	if cfg.RedisURL == "" {
		if rcfg, a.mini, err = EmbeddedRedis(cfg); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		a.log.Warn("REDIS_URL is not set: using embedded in-memory Redis; queued events, dedupe keys and incident records are lost when the process exits. Set REDIS_URL in production.")
	}
	tuning := redisTuning{dial: 2 * time.Second, read: 2 * time.Second, write: 2 * time.Second}
	redisLoggerOnce.Do(func() { redis.SetLogger(redisLogger{a.log}) }) // process-wide in go-redis
	if a.rdb, err = newRedisClient(rcfg, tuning); err != nil {
		return nil, err
	}
	a.store = a.clocked(store.New(a.rdb, cfg.RedisPrefix))
	a.probeQueue = a.store.ProbeQueue

	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.reg.MustRegister(store.NewCollector(a.store), outbound.Collector())

	dm := deadlines.NewMetrics(a.reg)
	a.registerSyncAge()
	a.srv = a.newHTTPServer(dm)
	if opts.Worker {
		if err := a.newWorkers(rcfg, tuning, dm); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// newWorkers builds the workers' half: their own Redis pool (so busy workers
// never slow webhook answers), the queue worker on the resolution process,
// the catch-up sweep and the deadlines keeper.
func (a *App) newWorkers(rcfg config.Config, tuning redisTuning, dm *deadlines.Metrics) error {
	wcfg := a.opts.WorkerConfig
	wcfg.Rules = a.rules.Current
	if wcfg.RetryHorizon == 0 {
		wcfg.RetryHorizon = a.cfg.RetryHorizon
	}
	// One connection per slot blocked in XREADGROUP, one for its
	// heartbeat, and some for the rest.
	wt := tuning
	wt.poolSize = 2*max(wcfg.Concurrency, 4) + 4
	var err error
	if a.wrdb, err = newRedisClient(rcfg, wt); err != nil {
		return err
	}
	wstore := a.clocked(store.New(a.wrdb, a.cfg.RedisPrefix))
	wm := workflow.NewMetrics(a.reg)
	proc := a.opts.Processor
	if proc == nil {
		if proc, err = a.resolution(wstore, wm); err != nil {
			return err
		}
	}
	a.worker = queue.NewWorker(wcfg, wstore, proc, a.log, queue.NewMetrics(a.reg))
	a.sweeper = a.newSweeper(wstore)
	a.keeper = a.newKeeper(wstore, dm)
	return nil
}

// warnUnset says at start, one line each, what a newcomer left unset that
// turns a part off, and what to set.
func (a *App) warnUnset() {
	if a.cfg.AdminToken == "" {
		a.log.Warn("AFTERMATH_ADMIN_TOKEN is not set: the admin API (/api/v1/*), the /postmortems overview and POST /-/reload are off (403). Set it to at least 32 characters, e.g. the output of: openssl rand -hex 32")
	}
	if a.opts.Worker && a.cfg.JiraBaseURL == "" {
		a.log.Warn("JIRA_BASE_URL is not set: no post-mortems will be made (the other steps run and the post-mortem step is recorded as skipped). Set JIRA_BASE_URL with JIRA_EMAIL and JIRA_API_TOKEN (Jira Cloud) or JIRA_PAT (Data Center)")
	}
}

// resolution is the workers' processing: the resolution workflow when
// PagerDuty is configured; otherwise every event is dead-lettered with the
// reason, where the admin API shows it and from where it can be replayed.
func (a *App) resolution(st *store.Store, m *workflow.Metrics) (queue.Processor, error) {
	if a.cfg.PagerDutyAPIToken == "" {
		a.log.Warn("PAGERDUTY_API_TOKEN is not set: webhooks are accepted and queued, but each event is dead-lettered instead of processed. Set it to run the resolution workflow.")
		return queue.ProcessorFunc(func(context.Context, queue.Job) error {
			return workflow.Permanent(errors.New("PAGERDUTY_API_TOKEN is not set: the resolution workflow cannot read PagerDuty"))
		}), nil
	}
	if a.cfg.PagerDutyFromEmail == "" && !a.cfg.DryRun {
		a.log.Warn("PAGERDUTY_FROM_EMAIL is not set: PagerDuty refuses notes, priority changes and merges without it; those steps will fail")
	}
	mode := workflow.Live
	if a.cfg.DryRun {
		mode = workflow.DryRun
		a.log.Warn("AFTERMATH_DRY_RUN is on: events are planned and the plan recorded; nothing is written to PagerDuty or Jira")
	}
	getenv := a.opts.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	res := &workflow.Resolution{PagerDuty: NewPagerDuty(a.cfg, a.log, SharedPacer(st, "pagerduty", a.log)), Store: st, Mode: mode, Log: a.log, Metrics: m,
		Now: a.opts.Now,
		Notifier: notify.New(notify.Config{SMTPAddr: a.cfg.SMTP.Addr, Username: a.cfg.SMTP.Username, Password: a.cfg.SMTP.Password.Reveal(),
			From: a.cfg.SMTP.From, TLS: a.cfg.SMTP.TLS, Getenv: getenv}, a.log, nil)}
	if err := a.wireConfluence(res, st); err != nil {
		return nil, err
	}
	if a.cfg.PublicURL != "" {
		res.OverviewURL = a.cfg.PublicURL + "/postmortems"
	}
	if a.cfg.JiraBaseURL == "" {
		return res, nil // warnUnset said so
	}
	// Jira named but not usable stops the start: events would otherwise be
	// acknowledged without their post-mortem.
	jc, err := NewJira(a.cfg, a.rules.Current(), a.log, SharedPacer(st, "jira", a.log))
	if err != nil {
		return nil, &config.VarError{Var: "JIRA_BASE_URL", Problem: err.Error()}
	}
	res.Jira, a.jira = jc, jc
	return res, nil
}

// NewJira returns the Jira client the configuration describes; the rules
// say the deployment and, on Data Center, the epic fields, when they know.
// pacer paces its requests (nil: a pace of its own, at the default rate).
func NewJira(cfg config.Config, rl *rules.Rules, log *slog.Logger, pacer outbound.Pacer) (*jira.Client, error) {
	jcfg := jira.Config{
		BaseURL: cfg.JiraBaseURL, APIURL: cfg.JiraAPIURL, Email: cfg.JiraEmail, APIToken: cfg.JiraAPIToken.Reveal(), PAT: cfg.JiraPAT.Reveal(),
	}
	if rl != nil {
		jcfg.Deployment, jcfg.EpicLinkField, jcfg.EpicNameField = rl.Jira.Deployment, rl.Jira.EpicLinkField, rl.Jira.EpicNameField
	}
	return jira.New(jcfg, log, jira.NewHTTPClient(outbound.Config{Pacer: pacer}, nil, log))
}

// NewPagerDuty returns the PagerDuty client the configuration describes,
// paced by pacer (nil: by a pace of its own, at the default rate).
func NewPagerDuty(cfg config.Config, log *slog.Logger, pacer outbound.Pacer) *pagerduty.Client {
	return pagerduty.New(pagerduty.Config{
		APIURL: cfg.PagerDutyAPIURL, Token: cfg.PagerDutyAPIToken.Reveal(), From: cfg.PagerDutyFromEmail,
	}, log, pagerduty.NewHTTPClient(pagerduty.TransportConfig{Pacer: pacer}, nil, log))
}

// SharedPacer is the pace of the named outside API ("pagerduty", "jira")
// that every client of every replica on st's Redis shares, at the default
// rate: PagerDuty counts its 960 requests a minute per API key, not per
// process.
func SharedPacer(st *store.Store, name string, log *slog.Logger) outbound.Pacer {
	return st.NewPacer(name, outbound.DefaultRequestsPerMinute, outbound.DefaultBurst, log)
}

// clocked gives st the process's clock, when Options set one.
func (a *App) clocked(st *store.Store) *store.Store {
	if a.opts.Now != nil {
		st.WithClock(a.opts.Now)
	}
	return st
}

// Store returns the process's store.
func (a *App) Store() *store.Store { return a.store }

// Addr returns the address the HTTP server listens on, once started.
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// readyTimeout bounds readiness's write to the queue: Redis answers one in
// a millisecond, and the probe must answer before the kubelet gives up (3s).
const readyTimeout = time.Second

// readyEvery is how long a failed readiness probe stands.
const readyEvery = time.Second

// ready is GET /readyz: the rules are loaded and the queue can be written
// now, so that a webhook sent to this process would be queued. The write
// runs in its own goroutine since go-redis does not bound a command by its
// context, only by its own dial and read timeouts.
func (a *App) ready(ctx context.Context) error {
	if a.rules.Current() == nil {
		return errors.New("rules are not loaded")
	}
	// /readyz is unauthenticated, so its probes are bounded whoever asks
	// and however often: one at a time, a caller that waited for another's
	// probe takes its answer, and a failure (whose probe may take the whole
	// readyTimeout) stands for readyEvery. A success is never reused by a
	// later caller: readiness turns 503 at the first probe after Redis fails.
	asked := time.Now()
	a.readyMu.Lock()
	defer a.readyMu.Unlock()
	if a.readyAt.After(asked) || a.readyErr != nil && time.Since(a.readyAt) < readyEvery {
		return a.readyErr
	}
	a.readyErr = a.probe(ctx)
	a.readyAt = time.Now()
	return a.readyErr
}

// probe writes to the queue's slot, as an enqueue would, within
// readyTimeout.
func (a *App) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.probeQueue(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			return errors.New("redis does not take writes to the queue")
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redis does not take writes to the queue within %s", readyTimeout)
	}
}

// Rules returns the rules in force.
func (a *App) Rules() *rules.Rules { return a.rules.Current() }

// ReloadRules reloads the rules file (SIGHUP, POST /-/reload). A file that
// does not load leaves the rules in force and returns every problem.
func (a *App) ReloadRules() (summary string, problems []string, err error) {
	r, err := a.rules.Reload()
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			for _, p := range re.Problems {
				problems = append(problems, p.String())
			}
		}
		return "", problems, err
	}
	return r.Summary(), nil, nil
}

// Start listens and starts the worker; it returns once both run.
func (a *App) Start(ctx context.Context) error {
	if a.opts.Ingest {
		a.indexTracked(ctx)
	}
	if a.srv != nil {
		ln, err := net.Listen("tcp", a.srv.Addr)
		if err != nil {
			return listenError(a.srv.Addr, err)
		}
		a.listener = ln
		a.done.Add(1)
		go func() {
			defer a.done.Done()
			if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.serveErr <- err
			}
		}()
		a.log.Info("listening", "addr", ln.Addr().String(), "version", Version)
	}
	if a.worker != nil {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.stopWorker = cancel
		a.done.Add(1)
		go func() {
			defer a.done.Done()
			if err := a.worker.Run(wctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("worker stopped", "err", err)
			}
		}()
		a.log.Info("worker started", "consumer", a.worker.Consumer())
	}
	if a.sweeper != nil || a.keeper != nil {
		// The catch-up sweep and the deadline keeper stop with the worker.
		bg := a.backgroundCtx()
		if a.sweeper != nil {
			a.done.Add(1)
			go func() {
				defer a.done.Done()
				_ = a.sweeper.Run(bg)
			}()
		}
		if a.keeper != nil {
			a.done.Add(1)
			go func() {
				defer a.done.Done()
				a.keeper.Run(bg)
			}()
		}
	}
	return nil
}

// listenError says why the server cannot listen as a bad setting of
// AFTERMATH_LISTEN_ADDR: another address is what fixes it.
func listenError(addr string, err error) error {
	problem := fmt.Sprintf("cannot listen on %s: %v", addr, err)
	if errors.Is(err, syscall.EADDRINUSE) {
		problem = fmt.Sprintf("%s is already in use by another process: stop that process or choose another host:port", addr)
	}
	return &config.VarError{Var: "AFTERMATH_LISTEN_ADDR", Problem: problem}
}

// Failed delivers an error when the HTTP server stops by itself.
func (a *App) Failed() <-chan error { return a.serveErr }

// Stop stops accepting webhooks, lets in-flight requests finish, stops the
// worker (in-flight entries finish within its shutdown timeout or are released
// for another replica), then closes Redis. ctx bounds the whole stop.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	// The workers stop taking entries while the server drains its requests.
	if a.stopWorker != nil {
		a.stopWorker()
	}
	if a.srv != nil {
		hctx, cancel := context.WithTimeout(ctx, a.opts.HTTPShutdownTimeout)
		if err := a.srv.Shutdown(hctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http server: %w", err))
		}
		cancel()
	}
	waited := make(chan struct{})
	go func() { a.done.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stop: %w", ctx.Err()))
	}
	for _, c := range []redis.UniversalClient{a.rdb, a.wrdb} {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis client: %w", err))
		}
	}
	if a.mini != nil {
		a.mini.Close()
	}
	return errors.Join(errs...)
}

// Serve runs the process until ctx is cancelled (SIGTERM, SIGINT), then stops
// gracefully within stopTimeout. Each value on reload (SIGHUP) reloads the
// rules.
func Serve(ctx context.Context, cfg config.Config, opts Options, reload <-chan os.Signal, stopTimeout time.Duration) error {
	a, err := New(cfg, opts)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Stop(context.Background())
		return err
	}
	var runErr error
wait:
	for {
		select {
		case <-reload:
			_, _, _ = a.ReloadRules() // logs the outcome itself
		case <-ctx.Done():
			a.log.Info("shutting down")
			break wait
		case runErr = <-a.Failed():
			a.log.Error("http server failed", "err", runErr)
			break wait
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	a.log.Info("stopped")
	return runErr
}

var redisLoggerOnce sync.Once

// redisLogger sends go-redis's own messages (pool dial failures, ...) to the
// process's JSON log instead of plain text on stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// severityNames are the rules' severities, for the overview's filter.
func (a *App) severityNames() []string {
	sevs := a.rules.Current().Severities
	out := make([]string, len(sevs))
	for i, s := range sevs {
		out[i] = s.Name
	}
	return out
}

// indexTracked puts the post-mortems a release before the overview
// registered into its index. A failure (Redis down at start) only leaves
// them out of the overview until the next start.
func (a *App) indexTracked(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := a.store.IndexTracked(ctx)
	switch {
	case err != nil:
		a.log.Warn("could not index the tracked post-mortems for the overview; the next start tries again", "err", err)
	case n > 0:
		a.log.Info("indexed tracked post-mortems for the overview", "added", n)
	}
}
