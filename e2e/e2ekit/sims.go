package e2ekit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// Secrets and names the replicas are started with (test values).
const (
	WebhookSecret = "e2e-pagerduty-webhook-secret"
	AdminToken    = "e2e-admin-token-0123456789abcdef0123456789"
	JiraSecret    = "e2e-jira-webhook-secret-0123456789"
	// SlackEnv is the variable holding the Slack receiver's URL: name it
	// in the rules' notify[].slack_webhook_env.
	SlackEnv = "E2E_SLACK_WEBHOOK"
	// BotUserID and BotEmail are the PagerDuty user aftermath writes as
	// (PAGERDUTY_FROM_EMAIL).
	BotUserID = "PBOT"
	BotEmail  = "aftermath@example.com"
)

// Sims are the outside world of a replica: both simulators, each behind
// its Proxy, the SMTP server and the Slack receiver. The test seeds the
// simulators itself (users, services, incidents, projects) and reads their
// state to check the outcome; replicas reach them only through the
// proxies. The simulators validate every request against the official
// specs and fail the test on a violation at cleanup.
type Sims struct {
	PD        *pagerdutytest.Server
	Jira      *jiratest.Server
	PDProxy   *Proxy
	JiraProxy *Proxy
	SMTP      *notifytest.SMTP
	Slack     *notifytest.Slack

	caFile string
}

// StartSims starts the simulators (Jira Cloud, with the project PM), the
// proxies (faults drawn with seed), the SMTP server and the Slack receiver.
// PagerDuty knows the bot user aftermath writes as.
func StartSims(t testing.TB, seed uint64) *Sims {
	t.Helper()
	s := &Sims{
		PD:    pagerdutytest.New(t),
		Jira:  jiratest.New(t, jiratest.Cloud),
		SMTP:  notifytest.NewSMTP(t),
		Slack: notifytest.NewSlack(t),
	}
	s.PD.AddUser(pagerdutytest.User{ID: BotUserID, Name: "aftermath", Email: BotEmail})
	s.Jira.AddProject(jiratest.Project{Key: "PM", Name: "Post-mortems"})
	s.PDProxy = NewProxy(t, PagerDuty, s.PD.URL(), pagerdutytest.Routes(), seed)
	s.JiraProxy = NewProxy(t, Jira, s.Jira.URL(), jiratest.Routes(), seed+1)
	s.caFile = filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(s.caFile, s.SMTP.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Env is the environment of a replica talking to the proxies, the SMTP
// server (STARTTLS, trusted through SSL_CERT_FILE) and the Slack receiver,
// with the webhook secrets and admin token above. Redis, the rules and the
// listen address are the caller's to add.
func (s *Sims) Env() []string {
	return []string{
		"PAGERDUTY_API_URL=" + s.PDProxy.URL, "PAGERDUTY_API_TOKEN=" + s.PD.Token(), "PAGERDUTY_FROM_EMAIL=" + BotEmail,
		"PAGERDUTY_WEBHOOK_SECRETS=" + WebhookSecret, "AFTERMATH_ADMIN_TOKEN=" + AdminToken,
		"JIRA_BASE_URL=" + s.JiraProxy.URL, "JIRA_EMAIL=" + s.Jira.Email(), "JIRA_API_TOKEN=" + s.Jira.APIToken(),
		"JIRA_WEBHOOK_SECRET=" + JiraSecret,
		"SMTP_ADDR=" + s.SMTP.Addr, "SMTP_USERNAME=" + notifytest.Username, "SMTP_PASSWORD=" + notifytest.Password,
		"SMTP_FROM=" + notifytest.From, "SMTP_TLS=starttls", "SSL_CERT_FILE=" + s.caFile,
		SlackEnv + "=" + s.Slack.URL,
	}
}

// Violations are the requests either simulator found against its spec.
func (s *Sims) Violations() []string {
	return append(s.PD.Violations(), s.Jira.Violations()...)
}
