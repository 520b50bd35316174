package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aftermath-dev/aftermath/app"
	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/internal/embedredis"
	"github.com/aftermath-dev/aftermath/store"
	"github.com/aftermath-dev/aftermath/workflow"
)

// ErrNoPagerDutyToken says a command that reads PagerDuty has no token.
var ErrNoPagerDutyToken = errors.New("PAGERDUTY_API_TOKEN is not set: this command reads the incident from PagerDuty")

// Plan prints what processing an incident's resolution would do under the
// rules at cfg.RulesPath: severity, group members and what each gets, final
// severity, owner, timeline and TODO items. It reads PagerDuty and Redis
// (for groups earlier processing recorded; without REDIS_URL there are none)
// and writes nothing anywhere.
func Plan(ctx context.Context, cfg config.Config, incidentID string, asJSON bool, stdout io.Writer, log *slog.Logger) error {
	if cfg.PagerDutyAPIToken == "" {
		return ErrNoPagerDutyToken
	}
	rl, err := loadRules(cfg.RulesPath)
	if err != nil {
		return err
	}
	rcfg := cfg
	if cfg.RedisURL == "" {
		var mini *embedredis.Server
		if rcfg, mini, err = app.EmbeddedRedis(cfg); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		defer mini.Close()
	}
	rdb, err := app.NewCommandRedis(rcfg)
	if err != nil {
		return err
	}
	defer rdb.Close()

	st := store.New(rdb, cfg.RedisPrefix)
	res := &workflow.Resolution{
		PagerDuty: app.NewPagerDuty(cfg, log, app.SharedPacer(st, "pagerduty", log)),
		Store:     st,
		Log:       log,
	}
	if cfg.JiraBaseURL != "" {
		// Read-only too: the owner's Jira user is looked up, nothing created.
		if jc, err := app.NewJira(cfg, rl, log, app.SharedPacer(st, "jira", log)); err == nil {
			res.Jira = jc
		} else {
			log.Warn("Jira is not usable; the plan leaves the post-mortem out", "err", err)
		}
	}
	plan, err := res.Plan(ctx, incidentID, rl)
	if err != nil {
		return fmt.Errorf("plan incident %s: %w", incidentID, err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(plan)
	}
	fmt.Fprintf(stdout, "Plan under %s (nothing was written)\n\n", rl.Source())
	return plan.Render(stdout, rl.Location())
}
