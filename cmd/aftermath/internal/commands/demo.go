package commands

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aftermath-dev/aftermath/app"
	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencesim"
	"github.com/aftermath-dev/aftermath/integrations/jira/jirasim"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifysim"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"
	"github.com/aftermath-dev/aftermath/internal/embedredis"
	"github.com/aftermath-dev/aftermath/store"
	"github.com/aftermath-dev/aftermath/workflow"
)

// DemoOptions tune Demo.
type DemoOptions struct {
	// KeepRunning keeps everything up after the report, printing the URLs
	// and the `demo advance` commands, until ctx ends (Ctrl-C).
	KeepRunning bool
	// JSON prints the report as one JSON object instead of text.
	JSON bool
	// Dir receives the rendered post-mortem page, the meeting's calendar
	// hold and, under messages/, every message sent (default: a new
	// directory under the system's temporary directory).
	Dir string
	// Command is how the printed `demo advance` commands call this program
	// (default "aftermath").
	Command string
	Logger  *slog.Logger
	// Page is where the post-mortem page lives: "jira" (default, the
	// epic's description) or "confluence" (the Confluence simulator runs
	// too: demo_confluence.go).
	Page string
}

// demoStateFile is what a demo kept running writes into its directory for
// `demo advance`, and removes when it stops.
const demoStateFile = "demo.json"

// demoEnv is one demo's running parts.
type demoEnv struct {
	mini       *embedredis.Server
	pd         *pagerdutysim.Server
	js         *jirasim.Server
	cs         *confluencesim.Server // --page confluence only
	smtp       *notifysim.SMTP
	slack      *notifysim.Slack
	app        *app.App
	clock      demoClock
	secret     string // PagerDuty's webhook signing secret
	jiraSecret string // JIRA_WEBHOOK_SECRET
	adminTok   string
	rulesDir   string
	dir        string // the page, the hold, messages/
	msgDir     string
	stateFile  string // "" until written
	started    time.Time
	now        time.Time // the demo's present: the primary resolves then, the earlier incidents before
	phases     []demoPhase
}

// demoPhase marks which messages a step of the demo sent: those the sinks
// received after the previous phase's counts, up to these.
type demoPhase struct {
	incident    string
	kind        string // created, review, overdue, reviewed
	mails, post int
}

// demoClock is the server's time in the demo: real time less an offset,
// which the demo shrinks step by step to play its earlier post-mortems as
// they happened, then sets to zero. It only ever moves forward.
type demoClock struct{ offset atomic.Int64 }

// Now is the demo's time.
func (c *demoClock) Now() time.Time { return time.Now().Add(-time.Duration(c.offset.Load())) }

// set moves the clock to t.
func (c *demoClock) set(t time.Time) { c.offset.Store(int64(time.Since(t))) }

// Demo runs the whole pipeline on this machine with nothing configured:
// embedded Redis, the PagerDuty and Jira simulators on loopback, an SMTP
// sink and a Slack webhook receiver, and a real serve (signed webhooks,
// queue, workers, deadline keeper). It first plays two earlier incidents
// on a clock set back (a post-mortem Reviewed, one late and reminded),
// then resolves the primary of a SEV-1 outage in the simulator, sends the
// signed V3 webhook as PagerDuty would, waits for the workflow and its
// messages, and reports what happened.
func Demo(ctx context.Context, o DemoOptions, stdout io.Writer) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &demoEnv{started: time.Now()}
	defer d.close()
	if err := d.start(ctx, o); err != nil {
		return err
	}
	say := func(format string, a ...any) {
		if !o.JSON {
			fmt.Fprintf(stdout, format+"\n", a...)
		}
	}
	say("aftermath demo: serving on %s with embedded Redis, the PagerDuty simulator (%s), the Jira simulator (%s), an SMTP sink (%s) and a Slack webhook receiver",
		d.app.Addr(), d.pd.URL(), d.js.URL(), d.smtp.Addr)
	say("Playing two earlier incidents first, on the server's clock set back %d days: one post-mortem gets Reviewed (its follow-ups are left open past their due date), one runs late...", demoReviewedAgo/(24*time.Hour))
	if err := d.playEarlier(ctx); err != nil {
		return err
	}
	say("Resolving incident %s in PagerDuty and sending the signed incident.resolved webhook...", demoPrimary)
	if err := d.process(ctx, demoPrimary, "PALICE", d.now); err != nil {
		return err
	}
	rep, err := d.report(ctx)
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
	if err := d.writeState(rep.Epic.Key); err != nil {
		return err
	}
	d.printURLs(stdout, o.Command, rep.Epic.Key)
	<-ctx.Done()
	return nil
}

func (d *demoEnv) start(ctx context.Context, o DemoOptions) error {
	var err error
	if d.dir = o.Dir; d.dir == "" {
		if d.dir, err = os.MkdirTemp("", "aftermath-demo-"); err != nil {
			return fmt.Errorf("demo directory: %w", err)
		}
	}
	d.msgDir = filepath.Join(d.dir, "messages")
	if err := os.MkdirAll(d.msgDir, 0o755); err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	if d.mini, err = embedredis.Start(); err != nil {
		return fmt.Errorf("start embedded redis: %w", err)
	}
	if d.smtp, err = notifysim.NewSMTP(notifysim.SMTPOptions{Plain: true, Dir: d.msgDir}); err != nil {
		return err
	}
	if d.slack, err = notifysim.NewSlack(notifysim.SlackOptions{Dir: d.msgDir}); err != nil {
		return err
	}
	d.secret, d.jiraSecret, d.adminTok = randomToken(), randomToken(), randomToken()
	d.now = time.Now().UTC().Truncate(time.Second)
	// The simulators keep the server's time, so that what aftermath wrote
	// for the earlier incidents is dated when it happened.
	d.clock.set(d.now.Add(-demoReviewedAgo))
	d.pd = pagerdutysim.NewServer(pagerdutysim.Options{Token: randomToken(), Now: d.clock.Now})
	d.js = jirasim.NewServer(jirasim.Options{Mode: jirasim.Cloud, Email: demoBotEmail, APIToken: randomToken(), Now: d.clock.Now})
	if err := d.startConfluence(o.Page); err != nil {
		return err
	}
	seedDemo(d.pd, d.js, d.now)
	seedEarlier(d.pd, d.now)

	cfg, err := d.serverConfig()
	if err != nil {
		return err
	}
	if d.app, err = app.New(cfg, d.serverOptions(o.Logger)); err != nil {
		return err
	}
	return d.app.Start(ctx)
}

// serverConfig writes the demo's rules and returns the configuration of
// its server, as serve would read it from the environment: everything on
// loopback, the simulators' credentials and fresh secrets.
func (d *demoEnv) serverConfig() (config.Config, error) {
	var err error
	if d.rulesDir, err = os.MkdirTemp("", "aftermath-demo-rules-"); err != nil {
		return config.Config{}, fmt.Errorf("demo rules: %w", err)
	}
	rulesPath := filepath.Join(d.rulesDir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(demoRules+d.confluenceRules()), 0o600); err != nil {
		return config.Config{}, fmt.Errorf("demo rules: %w", err)
	}
	env := map[string]string{
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
		"JIRA_WEBHOOK_SECRET":       d.jiraSecret,
		"AFTERMATH_ADMIN_TOKEN":     d.adminTok,
		"SMTP_ADDR":                 d.smtp.Addr,
		"SMTP_FROM":                 demoFrom,
		"SMTP_TLS":                  "none", // a local relay on loopback
	}
	d.confluenceEnv(env)
	cfg, err := config.Load(env)
	if err == nil {
		err = cfg.ValidateServe()
	}
	if err != nil {
		return cfg, fmt.Errorf("demo configuration: %w", err)
	}
	return cfg, nil
}

// serverOptions are the demo server's options: both roles, the demo's
// clock, its Slack receiver, and short waits so that it runs and stops
// quickly.
func (d *demoEnv) serverOptions(log *slog.Logger) app.Options {
	opts := app.Options{Ingest: true, Worker: true, Logger: log, HTTPShutdownTimeout: 5 * time.Second,
		Now: d.clock.Now, DeadlineTick: 100 * time.Millisecond,
		Getenv: func(name string) (string, bool) {
			if name == demoSlackEnv {
				return d.slack.URL, true
			}
			return "", false
		}}
	opts.WorkerConfig.Concurrency = 4
	opts.WorkerConfig.ShutdownTimeout = 5 * time.Second
	// A stop waits for the workers' blocked reads: short ones let the demo
	// exit at once.
	opts.WorkerConfig.ReadBlock = 200 * time.Millisecond
	// The earlier incidents' events are received days ago on the demo's
	// clock: a retry horizon of days keeps a hiccup from dead-lettering them.
	opts.WorkerConfig.RetryHorizon = 30 * 24 * time.Hour
	return opts
}

// playEarlier plays the two earlier incidents at their time: the SEV-2
// resolves 12 days ago and its post-mortem is Reviewed 3 days later (Jira's
// webhook says so); the SEV-1 resolves 6 days ago, gets its review
// reminder when the review is due, and its overdue reminder now; then the
// SEV-2's overdue follow-ups get their first reminders.
func (d *demoEnv) playEarlier(ctx context.Context) error {
	r := d.now.Add(-demoReviewedAgo)
	d.clock.set(r.Add(2 * time.Minute)) // PagerDuty's webhook comes in at once
	if err := d.process(ctx, demoReviewed, "PBOB", r); err != nil {
		return err
	}
	pm, err := d.postmortem(ctx, demoReviewed)
	if err != nil {
		return err
	}
	d.clock.set(pm.History[0].At.Add(demoReviewedAfter))
	d.js.SetStatus(pm.Key, jirasim.StatusReviewed)
	if _, err := sendJiraWebhook(ctx, "http://"+d.app.Addr(), d.jiraSecret, pm.Key, jirasim.StatusReviewed, d.clock.Now()); err != nil {
		return err
	}
	if err := d.waitEvent(ctx, demoReviewed, "status-"+demoReviewed+"-"+store.StatusReviewed, "reviewed"); err != nil {
		return err
	}

	l := d.now.Add(-demoLateAgo)
	d.clock.set(l.Add(2 * time.Minute))
	if err := d.process(ctx, demoLate, "PCAROL", l); err != nil {
		return err
	}
	if pm, err = d.postmortem(ctx, demoLate); err != nil {
		return err
	}
	d.clock.set(pm.ReviewDue.Add(time.Minute))
	if err := d.waitEvent(ctx, demoLate, "reminder-"+demoLate+"-"+store.ReminderReview+"-1", store.ReminderReview); err != nil {
		return err
	}
	d.clock.offset.Store(0)
	if err := d.waitEvent(ctx, demoLate, "reminder-"+demoLate+"-"+store.ReminderOverdue+"-1", store.ReminderOverdue); err != nil {
		return err
	}
	// Now the SEV-2's follow-ups, due 5 business days after it resolved,
	// are overdue: the status sync reads them into the follow-up index and
	// each gets its first reminder, a comment on its ticket.
	reviewed, err := d.postmortem(ctx, demoReviewed)
	if err != nil {
		return err
	}
	for _, is := range d.js.Issues() {
		if is.Parent != reviewed.Key || is.DueDate == "" {
			continue
		}
		if err := d.waitEvent(ctx, demoReviewed, "followup-reminder-"+is.Key+"-"+is.DueDate+"-1", ""); err != nil {
			return err
		}
	}
	return nil
}

// process resolves the incident as agent at resolvedAt, delivers
// PagerDuty's signed webhook for it, and waits for the workflow and the
// job that sends its messages.
func (d *demoEnv) process(ctx context.Context, incident, agent string, resolvedAt time.Time) error {
	d.pd.Resolve(incident, agent, resolvedAt)
	eventID, err := d.sendWebhook(ctx, incident, agent)
	if err != nil {
		return err
	}
	if err := d.waitEvent(ctx, incident, eventID, ""); err != nil {
		return err
	}
	return d.waitEvent(ctx, incident, workflow.EventNotify+":"+incident, "created")
}

// postmortem is what aftermath tracks of the incident's post-mortem.
func (d *demoEnv) postmortem(ctx context.Context, incident string) (store.Deadline, error) {
	pm, found, err := d.app.Store().Deadline(ctx, incident)
	switch {
	case err != nil:
		return pm, err
	case !found || len(pm.History) == 0:
		return pm, fmt.Errorf("no post-mortem of %s is tracked", incident)
	}
	return pm, nil
}

// sendWebhook delivers PagerDuty's signed incident.resolved webhook for the
// incident, by agent, and returns its event ID.
func (d *demoEnv) sendWebhook(ctx context.Context, incident, agent string) (string, error) {
	wh := d.pd.IncidentWebhook(incident, store.EventResolved, agent, d.secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.app.Addr()+"/webhooks/pagerduty", bytes.NewReader(wh.Body))
	if err != nil {
		return "", err
	}
	for k, v := range wh.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("send webhook: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var answer struct {
		EventID string `json:"event_id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &answer) != nil || answer.EventID == "" {
		return "", fmt.Errorf("send webhook for %s: aftermath answered %d %s", incident, resp.StatusCode, bytes.TrimSpace(body))
	}
	return answer.EventID, nil
}

// sendJiraWebhook sends what Jira Cloud sends when an issue's status
// changes: jira:issue_updated with the issue's new status, signed with the
// secret (X-Hub-Signature), and returns aftermath's answer (updated,
// unchanged, ...).
func sendJiraWebhook(ctx context.Context, base, secret, key, status string, at time.Time) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"webhookEvent": "jira:issue_updated", "timestamp": at.UnixMilli(),
		"issue": map[string]any{"key": key, "fields": map[string]any{"status": map[string]string{"name": status}}},
	})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/jira", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Atlassian-Webhook-Identifier", randomToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("send Jira's webhook for %s: %w", key, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var answer struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &answer) != nil {
		return "", fmt.Errorf("send Jira's webhook for %s: aftermath answered %d %s", key, resp.StatusCode, bytes.TrimSpace(b))
	}
	return answer.Status, nil
}

// demoWait bounds each wait of the demo: a step takes well under a second.
const demoWait = 30 * time.Second

// waitEvent waits for the incident's event (a webhook's event ID, or a
// job's: aftermath.notify:ID, status-ID-Reviewed, reminder-ID-overdue-1)
// to be processed, and fails on a dead-lettered attempt: the demo has
// nothing to show then but the error. kind, when not "", names the
// messages that event sends, for the report.
func (d *demoEnv) waitEvent(ctx context.Context, incident, eventID, kind string) error {
	deadline := time.Now().Add(demoWait)
	for {
		rec, _, err := d.app.Store().IncidentRecord(ctx, incident)
		if err != nil {
			return err
		}
		last := ""
		for _, a := range rec.Attempts {
			if a.EventID != eventID {
				continue
			}
			switch a.Outcome {
			case store.OutcomeDone:
				if kind != "" {
					d.phases = append(d.phases, demoPhase{incident: incident, kind: kind, mails: len(d.smtp.Mails()), post: len(d.slack.Posts())})
				}
				return nil
			case store.OutcomeDeadLettered:
				return fmt.Errorf("the workflow failed on %s (%s): %s", incident, eventID, a.Error)
			}
			last = a.Error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aftermath did not process %s of %s within %s (last error: %q)", eventID, incident, demoWait, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// demoState is demo.json: what `demo advance`, in another process, needs
// to move an epic in the running demo and see what aftermath does. The
// credentials are the demo's own, made for this run.
type demoState struct {
	Aftermath         string `json:"aftermath"`
	AdminToken        string `json:"admin_token"`
	JiraURL           string `json:"jira_url"`
	JiraEmail         string `json:"jira_email"`
	JiraAPIToken      string `json:"jira_api_token"`
	JiraWebhookSecret string `json:"jira_webhook_secret"`
	Epic              string `json:"epic"`
	Incident          string `json:"incident"`
	MessagesDir       string `json:"messages_dir"`
}

func (d *demoEnv) writeState(epic string) error {
	b, _ := json.MarshalIndent(demoState{
		Aftermath: "http://" + d.app.Addr(), AdminToken: d.adminTok,
		JiraURL: d.js.URL(), JiraEmail: d.js.Email(), JiraAPIToken: d.js.APIToken(), JiraWebhookSecret: d.jiraSecret,
		Epic: epic, Incident: demoPrimary, MessagesDir: d.msgDir,
	}, "", "  ")
	path := filepath.Join(d.dir, demoStateFile)
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write the demo's state for demo advance: %w", err)
	}
	d.stateFile = path
	return nil
}

func (d *demoEnv) printURLs(w io.Writer, command, epic string) {
	if command == "" {
		command = "aftermath"
	}
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
  Jira sim         curl -u '%[7]s:%[8]s' '%[9]s/rest/api/2/search/jql?jql=project=PM&fields=summary,status,labels'
  messages         ls %[10]s   (every mail aftermath sends, as .eml; every Slack post, as .json)

Move post-mortem %[11]s along, from another terminal:
  %[12]s demo advance --dir %[13]s --to in-review   # aftermath reads the page and comments on its language
  %[12]s demo advance --dir %[13]s --to reviewed    # the reminders stop and the Reviewed message goes out
`, base, d.secret, d.adminTok, demoPrimary, d.pd.Token(), d.pd.URL(), d.js.Email(), d.js.APIToken(), d.js.URL(), d.msgDir,
		epic, command, shellQuote(d.dir))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/.-_+:@%", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func (d *demoEnv) close() {
	if d.app != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = d.app.Stop(ctx)
		cancel()
	}
	if d.stateFile != "" {
		_ = os.Remove(d.stateFile)
	}
	if d.smtp != nil {
		_ = d.smtp.Close()
	}
	if d.slack != nil {
		_ = d.slack.Close()
	}
	if d.pd != nil {
		d.pd.Close()
	}
	if d.js != nil {
		d.js.Close()
	}
	if d.cs != nil {
		d.cs.Close()
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
