package app

import (
	"fmt"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jirasim"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"
)

// The demo's outage: a SEV-1 on the checkout service, caused by a payments
// deploy, with a related payments alert (resolved) and a cart alert (still
// open when the primary resolves).
const (
	demoPrimary  = "Q1CHECKOUT502"
	demoPayments = "Q2PAYMEMORY"
	demoCart     = "Q3CARTERRORS"
	demoBotEmail = "aftermath-bot@shop.example"
	demoProject  = "PM"
)

// demoRules are the rules the demo serves under: the three services are one
// scope, the resolver owns the post-mortem. The sweep is off: the demo
// shows one webhook's work, and the resolved payments alert, seeded
// without its webhook, would otherwise be caught up on as missed.
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
  standard:
    - summary: Schedule the post-mortem meeting
    - summary: Write and send the external message
      severities: [SEV-1]
catch_up:
  enabled: false
`

type demoUser struct{ id, name, email, account string }

var demoUsers = []demoUser{
	{"PALICE", "Alice Ng", "alice@shop.example", "acc-alice"},
	{"PBOB", "Bob Li", "bob@shop.example", "acc-bob"},
	{"PCAROL", "Carol Diaz", "carol@shop.example", "acc-carol"},
}

// seedDemo fills both simulators with the outage as it stands just before
// the primary resolves at now.
func seedDemo(pd *pagerdutysim.Server, js *jirasim.Server, now time.Time) {
	pd.AddUser(pagerdutysim.User{ID: "PBOT", Name: "aftermath", Email: demoBotEmail})
	js.AddProject(jirasim.Project{Key: demoProject, Name: "Post-mortems"})
	for _, u := range demoUsers {
		pd.AddUser(pagerdutysim.User{ID: u.id, Name: u.name, Email: u.email})
		js.AddUser(jirasim.User{AccountID: u.account, Name: u.id, Key: u.id, Email: u.email, DisplayName: u.name, Active: true})
	}
	for id, name := range map[string]string{"PCHECKOUT": "checkout", "PPAYMENTS": "payments-api", "PCART": "cart"} {
		pd.AddService(pagerdutysim.Service{ID: id, Name: name})
	}
	t0 := now.Add(-95 * time.Minute)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

	pd.AddIncident(pagerdutysim.NewIncident{ID: demoPrimary, Number: 4211, Title: "Checkout returns 502 for card payments",
		ServiceID: "PCHECKOUT", Priority: "P1", CreatedAt: t0})
	pd.AddIncident(pagerdutysim.NewIncident{ID: demoPayments, Number: 4212, Title: "payments-api memory above 95%",
		ServiceID: "PPAYMENTS", Priority: "P3", CreatedAt: at(2)})
	pd.AddIncident(pagerdutysim.NewIncident{ID: demoCart, Number: 4213, Title: "cart error rate above 5%",
		ServiceID: "PCART", Priority: "P3", CreatedAt: at(6)})

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
