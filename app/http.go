package app

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/handlers"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/store"
	"github.com/aftermath-dev/aftermath/workflow"
)

// newHTTPServer is the HTTP half of New: the routes every role serves and,
// for ingest, the webhooks and the admin API; dm are the deadline metrics
// the Jira webhook's keeper counts in.
func (a *App) newHTTPServer(dm *deadlines.Metrics) *http.Server {
	cfg := a.cfg
	// Every role serves health and metrics; only ingest takes webhooks and
	// serves the admin API.
	// Every role also reloads its rules on POST /-/reload (the workers are
	// what use them).
	// Wrong admin tokens are counted in Redis, so that every replica
	// shares one lockout per client address.
	hopts := handlers.Options{
		Ready: a.ready, Reloader: a, AdminToken: cfg.AdminToken.Reveal(),
		AuthLimiter: a.store.NewAuthLimiter(store.DefaultAuthLimits, a.log), Sessions: a.store, TrustedProxies: cfg.TrustedProxies,
		Registerer: a.reg, Gatherer: a.reg, Logger: a.log, Now: a.opts.Now,
	}
	if a.opts.Ingest {
		hopts.EpicStatuses, hopts.JiraWebhookSecret = a.newKeeper(a.store, dm), cfg.JiraWebhookSecret.Reveal()
		secrets := make([]string, len(cfg.WebhookSecrets))
		for i, s := range cfg.WebhookSecrets {
			secrets[i] = s.Reveal()
		}
		hopts.Verifier = webhook.NewVerifier(secrets)
		hopts.Queue, hopts.Records = a.store, a.store
		hopts.Postmortems, hopts.Severities, hopts.Location = a.store, a.severityNames, func() *time.Location { return a.rules.Current().Location() }
		// incident.triggered matters only for merging into an open
		// primary; the rules in force decide, reloads included.
		hopts.QueueEvent = func(t string) bool {
			return t == workflow.EventResolved || t == workflow.EventTriggered && a.rules.Current().Grouping.MergeWhileOpen
		}
	}
	e := handlers.New(hopts)
	return &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}
