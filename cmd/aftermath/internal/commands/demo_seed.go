package commands

import (
	"fmt"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jirasim"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"
)

// The demo's outage: a SEV-1 on the checkout service, caused by a payments
// deploy, with a related payments alert (resolved) and a cart alert (still
// open when the primary resolves). Two earlier incidents on other services
// came before it: a SEV-2 whose post-mortem was Reviewed, and a SEV-1 whose
// post-mortem is late.
const (
	demoPrimary  = "Q1CHECKOUT502"
	demoPayments = "Q2PAYMEMORY"
	demoCart     = "Q3CARTERRORS"
	demoReviewed = "Q4CARDAUTHSLOW"
	demoLate     = "Q5EMAILDELAY"
	demoBotEmail = "aftermath-bot@shop.example"
	demoFrom     = "aftermath@shop.example"
	demoProject  = "PM"
	// demoSlackEnv names the Slack webhook in the demo's rules; the demo
	// hands its receiver's URL to the server under this name
	// (Options.Getenv), leaving the process's environment alone.
	demoSlackEnv = "SLACK_WEBHOOK_URL"
	// demoStakeholders get every message, as the rules' notify says.
	demoStakeholders = "incident-stakeholders@shop.example"
)

// When the earlier incidents resolved, before the demo's now, and how long
// after its post-mortem was made the SEV-2's was Reviewed. The late SEV-1's
// meeting (3 calendar days) was due 2 days 22 hours ago: 3 days late, as
// the overview counts (any part of a day is a day).
const (
	demoReviewedAgo   = 12 * 24 * time.Hour
	demoReviewedAfter = 3 * 24 * time.Hour
	demoLateAgo       = 6*24*time.Hour - 2*time.Hour
)

// demoRules are the rules the demo serves under: the three services of the
// outage are one scope, the resolver owns the post-mortem, every message
// goes to the stakeholders by email and to Slack, and the services' people
// and the customer liaison are invited to the meeting. The sweep is off:
// the demo shows its webhooks' work, and the resolved payments alert,
// seeded without its webhook, would otherwise be caught up on as missed.
// The status sync runs every 2s, so that the earlier post-mortem's
// follow-ups are read (and the overdue one reminded) within the demo's
// run, and an epic moved in the Jira
// simulator by hand shows in aftermath soon (demo advance also sends
// Jira's webhook).
const demoRules = `version: 1
timezone: UTC
grouping:
  window: 30m
  scopes:
    - name: checkout
      services: [PCHECKOUT, PPAYMENTS, PCART]
  resolve_open_members: true
owner:
  from: [resolver, last_assignee]
  fallback: sre-lead@shop.example
jira:
  deployment: cloud
  project: PM
  labels: [postmortem]
followups:
  from_notes: true
  max: 10
  due:
    SEV-1: 20 business days
    SEV-2: 5 business days
  remind_every: 168h
  max_reminders: 3
  standard:
    - summary: Schedule the post-mortem meeting
    - summary: Write and send the external message
      severities: [SEV-1]
catch_up:
  enabled: false
status_sync:
  every: 2s
notify:
  - email: [` + demoStakeholders + `]
  - slack_webhook_env: ` + demoSlackEnv + `
people:
  services:
    - services: [PCHECKOUT, PPAYMENTS, PCART]
      owners: [checkout-team@shop.example]
      engineering_managers: [dana.okafor@shop.example]
      product_managers: [evan.price@shop.example]
customer_liaison: support-lead@shop.example
`

type demoUser struct{ id, name, email, account string }

var demoUsers = []demoUser{
	{"PALICE", "Alice Ng", "alice@shop.example", "acc-alice"},
	{"PBOB", "Bob Li", "bob@shop.example", "acc-bob"},
	{"PCAROL", "Carol Diaz", "carol@shop.example", "acc-carol"},
}

// demoTeam is the PagerDuty team of the checkout services' incidents.
var demoTeam = pagerdutysim.Team{ID: "PTEAMCHK", Name: "Checkout"}

// seedDemo fills both simulators with the outage as it stands just before
// the primary resolves at now.
func seedDemo(pd *pagerdutysim.Server, js *jirasim.Server, now time.Time) {
	pd.AddUser(pagerdutysim.User{ID: "PBOT", Name: "aftermath", Email: demoBotEmail})
	js.AddProject(jirasim.Project{Key: demoProject, Name: "Post-mortems"})
	for _, u := range demoUsers {
		pd.AddUser(pagerdutysim.User{ID: u.id, Name: u.name, Email: u.email})
		js.AddUser(jirasim.User{AccountID: u.account, Name: u.id, Key: u.id, Email: u.email, DisplayName: u.name, Active: true})
	}
	for id, name := range map[string]string{"PCHECKOUT": "checkout", "PPAYMENTS": "payments-api", "PCART": "cart",
		"PNOTIFY": "notifications"} {
		pd.AddService(pagerdutysim.Service{ID: id, Name: name})
	}
	t0 := now.Add(-95 * time.Minute)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

	pd.AddIncident(pagerdutysim.NewIncident{ID: demoPrimary, Number: 4211, Title: "Checkout returns 502 for card payments",
		ServiceID: "PCHECKOUT", Priority: "P1", CreatedAt: t0, Teams: []pagerdutysim.Team{demoTeam}})
	pd.AddIncident(pagerdutysim.NewIncident{ID: demoPayments, Number: 4212, Title: "payments-api memory above 95%",
		ServiceID: "PPAYMENTS", Priority: "P3", CreatedAt: at(2), Teams: []pagerdutysim.Team{demoTeam}})
	pd.AddIncident(pagerdutysim.NewIncident{ID: demoCart, Number: 4213, Title: "cart error rate above 5%",
		ServiceID: "PCART", Priority: "P3", CreatedAt: at(6), Teams: []pagerdutysim.Team{demoTeam}})

	p := demoPrimary
	pd.Assign(p, "PALICE", at(0))
	pd.AddNotifyEntries(p, 4, at(0))
	pd.Escalate(p, "PBOB", at(5)) // Alice did not acknowledge within 5 minutes
	pd.AddNotifyEntries(p, 3, at(5))
	pd.Acknowledge(p, "PBOB", at(7))
	pd.Assign(p, "PALICE", at(9))
	pd.Acknowledge(p, "PALICE", at(10))
	pd.Annotate(p, "PALICE", "Taking command.\nIC: Alice Ng\nScribe: Carol Diaz", at(11))
	pd.Assign(p, "PCAROL", at(11))
	pd.AddNotifyEntries(p, 3, at(11))
	pd.Annotate(p, "PBOB", "payments-api pods are OOM-killed since the 2.14.0 deploy; card authorisations time out behind them", at(18))
	pd.Annotate(p, "PCAROL", "Status page updated: card payments failing, PayPal works", at(21))
	pd.Escalate(p, "PBOB", at(25))
	pd.Annotate(p, "PBOB", "Rolling payments-api back to 2.13.2", at(31))
	// A blame-shaped phrase, for the language review at In Review to find.
	pd.Annotate(p, "PCAROL", "2.14.0 shipped without its load test: whoever deployed it forgot to run it", at(38))
	pd.Annotate(p, "PCAROL", "TODO: alert on payments-api memory before pods are OOM-killed\nTODO: checkout should fail over to the backup card processor", at(44))
	pd.Annotate(p, "PBOB", "Rollback done; 502 rate back to baseline, watching for 30 minutes", at(52))
	pd.AddNotifyEntries(p, 4, at(60))
	pd.Annotate(p, "PALICE", "FOLLOWUP: load-test 2.14.0 with production-size carts before the next deploy", at(80))
	pd.Annotate(p, "PALICE", fmt.Sprintf("Resolution: payments-api rolled back to 2.13.2 at %s UTC; card payments recovered, no orders lost (retried by clients).", at(50).Format("15:04")), at(93))

	pd.Assign(demoPayments, "PBOB", at(2))
	pd.Acknowledge(demoPayments, "PBOB", at(8))
	pd.Annotate(demoPayments, "PBOB", "Same root cause as the checkout 502s", at(19))
	pd.Resolve(demoPayments, "PBOB", at(55))

	pd.Assign(demoCart, "PCAROL", at(6))
	pd.AddNotifyEntries(demoCart, 2, at(6))
}

// seedEarlier adds the two earlier incidents, open, as they stood before
// they resolved (demoEnv.playEarlier resolves them at their time): slow
// card authorisations on payments-api (SEV-2) that Bob resolved, whose
// post-mortem was Reviewed but whose follow-up, due 5 business days later,
// is still open (so it is reminded, and the demo's outage, in the same
// scope, recurs it), and delayed order emails (SEV-1) that Carol
// resolved, whose post-mortem is late.
func seedEarlier(pd *pagerdutysim.Server, now time.Time) {
	r := now.Add(-demoReviewedAgo)
	pd.AddIncident(pagerdutysim.NewIncident{ID: demoReviewed, Number: 4187, Title: "Card authorisations take 8 seconds at checkout",
		ServiceID: "PPAYMENTS", Priority: "P2", CreatedAt: r.Add(-42 * time.Minute), Teams: []pagerdutysim.Team{demoTeam}})
	pd.Assign(demoReviewed, "PBOB", r.Add(-42*time.Minute))
	pd.AddNotifyEntries(demoReviewed, 2, r.Add(-42*time.Minute))
	pd.Acknowledge(demoReviewed, "PBOB", r.Add(-38*time.Minute))
	pd.Annotate(demoReviewed, "PBOB", "payments-api's connection pool is exhausted by the refunds batch; pausing it", r.Add(-25*time.Minute))
	pd.Annotate(demoReviewed, "PBOB", "TODO: alert on payments-api memory and connection pool saturation", r.Add(-10*time.Minute))
	pd.Annotate(demoReviewed, "PBOB", "Resolution: refunds batch moved to the night window; authorisations back to 300 ms.", r.Add(-2*time.Minute))

	l := now.Add(-demoLateAgo)
	pd.AddIncident(pagerdutysim.NewIncident{ID: demoLate, Number: 4198, Title: "Order confirmation emails delayed by 40 minutes",
		ServiceID: "PNOTIFY", Priority: "P1", CreatedAt: l.Add(-55 * time.Minute)})
	pd.Assign(demoLate, "PCAROL", l.Add(-55*time.Minute))
	pd.AddNotifyEntries(demoLate, 3, l.Add(-55*time.Minute))
	pd.Acknowledge(demoLate, "PCAROL", l.Add(-50*time.Minute))
	pd.Annotate(demoLate, "PCAROL", "IC: Carol Diaz\nThe mail provider throttles us since the new sending domain", l.Add(-45*time.Minute))
	pd.Annotate(demoLate, "PCAROL", "Resolution: switched back to the old sending domain; the queue drained in 12 minutes.", l.Add(-3*time.Minute))
}
