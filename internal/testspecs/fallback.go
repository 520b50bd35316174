package testspecs

// fallbacks are the project's own V3 webhook bodies, written for the tests
// from PagerDuty's documented envelope (docs/webhooks, "Overview"): the same
// events as the signed samples in the specs folder, with the fields the tests
// and the workflow read (IDs, number, title, service, times, agent), so that
// a test of behaviour that sends "the sample" runs without the specs. They
// are not the samples' bytes: a test of the samples themselves uses Read.
var fallbacks = map[string]string{
	"webhooks/incident.resolved.json": `{"event":{"id":"01FKZSYE5HCMM576S6JUVIGLQT","event_type":"incident.resolved",` +
		`"resource_type":"incident","occurred_at":"2025-04-07T03:49:36.358Z",` +
		`"agent":{"id":"PVE0ZR9","type":"user_reference","summary":"Ben","self":"https://api.pagerduty.com/users/PVE0ZR9","html_url":"https://example.pagerduty.com/users/PVE0ZR9"},` +
		`"client":null,"data":{"id":"Q2CKYRLH85UNN4","type":"incident","number":37,"status":"resolved","title":"Test",` +
		`"self":"https://api.pagerduty.com/incidents/Q2CKYRLH85UNN4","html_url":"https://example.pagerduty.com/incidents/Q2CKYRLH85UNN4",` +
		`"created_at":"2025-04-07T03:47:13Z","urgency":"low","priority":null,"conference_bridge":null,"resolve_reason":null,` +
		`"service":{"id":"PNE3JZM","type":"service_reference","summary":"Webhook Tester","self":"https://api.pagerduty.com/services/PNE3JZM","html_url":"https://example.pagerduty.com/services/PNE3JZM"},` +
		`"escalation_policy":{"id":"P482651","type":"escalation_policy_reference","summary":"Notify Ben and Dad"},` +
		`"assignees":[],"teams":[],"incident_type":{"name":"incident_default"}}}}`,
	"webhooks/incident.triggered.json": `{"event":{"id":"01FKZSRAPTMF55RE69G8BQHGC6","event_type":"incident.triggered",` +
		`"resource_type":"incident","occurred_at":"2025-04-07T03:47:13.414Z",` +
		`"agent":{"id":"PVE0ZR9","type":"user_reference","summary":"Ben"},` +
		`"client":null,"data":{"id":"Q2CKYRLH85UNN4","type":"incident","number":37,"status":"triggered","title":"Test",` +
		`"self":"https://api.pagerduty.com/incidents/Q2CKYRLH85UNN4","html_url":"https://example.pagerduty.com/incidents/Q2CKYRLH85UNN4",` +
		`"created_at":"2025-04-07T03:47:13Z","urgency":"low","priority":null,"conference_bridge":null,"resolve_reason":null,` +
		`"service":{"id":"PNE3JZM","type":"service_reference","summary":"Webhook Tester"},` +
		`"escalation_policy":{"id":"P482651","type":"escalation_policy_reference","summary":"Notify Ben and Dad"},` +
		`"assignees":[{"id":"PVE0ZR9","type":"user_reference","summary":"Ben"}],"teams":[],"incident_type":{"name":"incident_default"}}}}`,
	"webhooks/pagey.ping.json": `{"event":{"id":"01FKZOXA868SHYEE4DVNWB5P9W","event_type":"pagey.ping","resource_type":"pagey",` +
		`"occurred_at":"2025-04-07T03:00:55.532Z","agent":{"id":"PVE0ZR9","type":"user_reference"},"client":null,` +
		`"data":{"message":"Hello from your friend Pagey!","type":"ping"}}}`,
}
