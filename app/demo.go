package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/integrations/jira/jirasim"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"
	"github.com/aftermath-dev/aftermath/internal/embedredis"
	"github.com/aftermath-dev/aftermath/store"
)

// DemoOptions tune Demo.
type DemoOptions struct {
	// KeepRunning keeps everything up after the report, printing the URLs,
	// until ctx ends (Ctrl-C).
	KeepRunning bool
	// JSON prints the report as one JSON object instead of text.
	JSON bool
	// Dir receives the rendered post-mortem page (default: a new directory
	// under the system's temporary directory).
	Dir    string
	Logger *slog.Logger
}

// demoEnv is one demo's running parts.
type demoEnv struct {
	mini      *embedredis.Server
	pd        *pagerdutysim.Server
	js        *jirasim.Server
	app       *App
	secret    string
	adminTok  string
	rulesDir  string
	started   time.Time
	resolveAt time.Time
}

// Demo runs the whole pipeline on this machine with nothing configured:
// embedded Redis, the PagerDuty and Jira simulators on loopback seeded with
// a SEV-1 outage, and a real serve (signed webhook, queue, workers). It
// resolves the primary in the simulator, sends the signed V3 webhook as
// PagerDuty would, waits for the workflow and reports what happened.
func Demo(ctx context.Context, o DemoOptions, stdout io.Writer) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &demoEnv{started: time.Now()}
	defer d.close()
	if err := d.start(ctx, o.Logger); err != nil {
		return err
	}
	if !o.JSON {
		fmt.Fprintf(stdout, "aftermath demo: serving on %s with embedded Redis, the PagerDuty simulator (%s) and the Jira simulator (%s)\n",
			d.app.Addr(), d.pd.URL(), d.js.URL())
		fmt.Fprintf(stdout, "Resolving incident %s in PagerDuty and sending the signed incident.resolved webhook...\n", demoPrimary)
	}
	if err := d.sendWebhook(ctx); err != nil {
		return err
	}
	if err := d.waitDone(ctx, 45*time.Second); err != nil {
		return err
	}
	rep, err := d.report(ctx, o.Dir)
	if err != nil {
		return err
	}
	if o.JSON {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil || !o.KeepRunning {
		return err
	}
	d.printURLs(stdout)
	<-ctx.Done()
	return nil
}

func (d *demoEnv) start(ctx context.Context, log *slog.Logger) error {
	var err error
	if d.mini, err = embedredis.Start(); err != nil {
		return fmt.Errorf("start embedded redis: %w", err)
	}
	d.secret, d.adminTok = randomToken(), randomToken()
	d.pd = pagerdutysim.NewServer(pagerdutysim.Options{Token: randomToken()})
	d.js = jirasim.NewServer(jirasim.Options{Mode: jirasim.Cloud, Email: demoBotEmail, APIToken: randomToken()})
	d.resolveAt = time.Now().UTC().Truncate(time.Second)
	seedDemo(d.pd, d.js, d.resolveAt)

	if d.rulesDir, err = os.MkdirTemp("", "aftermath-demo-rules-"); err != nil {
		return fmt.Errorf("demo rules: %w", err)
	}
	rulesPath := filepath.Join(d.rulesDir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(demoRules), 0o600); err != nil {
		return fmt.Errorf("demo rules: %w", err)
	}
	cfg, err := config.Load(map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:0",
		"AFTERMATH_RULES":           rulesPath,
		"REDIS_URL":                 "redis://" + d.mini.Addr() + "/0",
		"AFTERMATH_REDIS_PREFIX":    "demo",
		"PAGERDUTY_WEBHOOK_SECRETS": d.secret,
		"PAGERDUTY_API_TOKEN":       d.pd.Token(),
		"PAGERDUTY_API_URL":         d.pd.URL(),
		"PAGERDUTY_FROM_EMAIL":      demoBotEmail,
		"JIRA_BASE_URL":             d.js.URL(),
		"JIRA_EMAIL":                d.js.Email(),
		"JIRA_API_TOKEN":            d.js.APIToken(),
		"AFTERMATH_ADMIN_TOKEN":     d.adminTok,
	})
	if err == nil {
		err = cfg.ValidateServe()
	}
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	opts := Options{Ingest: true, Worker: true, Logger: log, HTTPShutdownTimeout: 5 * time.Second}
	opts.WorkerConfig.Concurrency = 4
	opts.WorkerConfig.ShutdownTimeout = 5 * time.Second
	if d.app, err = New(cfg, opts); err != nil {
		return err
	}
	return d.app.Start(ctx)
}

// sendWebhook resolves the primary as Alice, from the website, and delivers
// PagerDuty's signed webhook for it.
func (d *demoEnv) sendWebhook(ctx context.Context) error {
	d.pd.Resolve(demoPrimary, "PALICE", d.resolveAt)
	wh := d.pd.IncidentWebhook(demoPrimary, store.EventResolved, "PALICE", d.secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.app.Addr()+"/webhooks/pagerduty", bytes.NewReader(wh.Body))
	if err != nil {
		return err
	}
	for k, v := range wh.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("send webhook: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("send webhook: aftermath answered %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// waitDone waits for the primary's processing to finish, and fails on a
// failed attempt: the demo has nothing to show then but the error.
func (d *demoEnv) waitDone(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		rec, _, err := d.app.Store().IncidentRecord(ctx, demoPrimary)
		if err != nil {
			return err
		}
		last := ""
		for _, a := range rec.Attempts {
			switch a.Outcome {
			case store.OutcomeDone:
				return nil
			case store.OutcomeDeadLettered:
				return fmt.Errorf("the workflow failed on %s: %s", demoPrimary, a.Error)
			}
			last = a.Error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the workflow did not finish %s within %s (last error: %q)", demoPrimary, limit, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *demoEnv) printURLs(w io.Writer) {
	base := "http://" + d.app.Addr()
	fmt.Fprintf(w, `
Everything keeps running until Ctrl-C:
  webhook          POST %[1]s/webhooks/pagerduty   (signing secret %[2]s)
  admin API        curl -H 'Authorization: Bearer %[3]s' %[1]s/api/v1/incidents/%[4]s
  dead letters     curl -H 'Authorization: Bearer %[3]s' %[1]s/api/v1/dead-letters
  post-mortems     open %[1]s/postmortems in a browser and log in with the admin token %[3]s
  post-mortems API curl -H 'Authorization: Bearer %[3]s' %[1]s/api/v1/postmortems
  metrics          curl %[1]s/metrics
  PagerDuty sim    curl -H 'Authorization: Token token=%[5]s' %[6]s/incidents/%[4]s/notes
  Jira sim         curl -u '%[7]s:%[8]s' '%[9]s/rest/api/2/search/jql?jql=project=PM'
`, base, d.secret, d.adminTok, demoPrimary, d.pd.Token(), d.pd.URL(), d.js.Email(), d.js.APIToken(), d.js.URL())
}

func (d *demoEnv) close() {
	if d.app != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = d.app.Stop(ctx)
		cancel()
	}
	if d.pd != nil {
		d.pd.Close()
	}
	if d.js != nil {
		d.js.Close()
	}
	if d.mini != nil {
		d.mini.Close()
	}
	if d.rulesDir != "" {
		_ = os.RemoveAll(d.rulesDir)
	}
}

func randomToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed"))
	}
	return hex.EncodeToString(b)
}
