package app

import (
	"log/slog"

	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/integrations/confluence"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
	"github.com/aftermath-dev/aftermath/workflow"
)

var _ workflow.Confluence = (*confluence.Client)(nil)

// wireConfluence gives the workflow its Confluence client when
// CONFLUENCE_BASE_URL is set. The rules putting the page in Confluence
// without it stop the start: epics would point at pages never made.
func (a *App) wireConfluence(res *workflow.Resolution, st *store.Store) error {
	if err := a.cfg.CheckConfluence(a.rules.Current().Page.Target); err != nil {
		return err
	}
	if !a.cfg.Confluence.Configured() {
		return nil
	}
	c, err := NewConfluence(a.cfg, a.log, SharedPacer(st, "confluence", a.log))
	if err != nil {
		return &config.VarError{Var: "CONFLUENCE_BASE_URL", Problem: err.Error()}
	}
	if a.cfg.Confluence.FromJira {
		a.log.Info("Confluence: signing in with JIRA_EMAIL and JIRA_API_TOKEN (CONFLUENCE_BASE_URL is on the Jira site and no Confluence credentials are set)")
	}
	if a.rules.Current().Page.Target != rules.TargetConfluence {
		a.log.Info("CONFLUENCE_BASE_URL is set but the rules keep the page in the epic (page.target: jira)")
	}
	res.Confluence = c
	return nil
}

// NewConfluence returns the Confluence client the configuration describes,
// paced by pacer (nil: a pace of its own).
func NewConfluence(cfg config.Config, log *slog.Logger, pacer outbound.Pacer) (*confluence.Client, error) {
	cf := cfg.Confluence
	return confluence.New(confluence.Config{BaseURL: cf.BaseURL, Email: cf.Email, APIToken: cf.APIToken.Reveal(), PAT: cf.PAT.Reveal()},
		log, confluence.NewHTTPClient(outbound.Config{Pacer: pacer}, nil, log))
}
