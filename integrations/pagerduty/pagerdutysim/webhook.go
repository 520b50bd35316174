package pagerdutysim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Webhook is a V3 webhook delivery as PagerDuty sends it: the body and the
// headers (Content-Type, User-Agent, X-Webhook-Id, X-Webhook-Subscription
// and X-PagerDuty-Signature).
type Webhook struct {
	Body    []byte
	Headers map[string]string
}

// IncidentWebhook is the V3 webhook PagerDuty sends for an event of the
// incident's (eventType such as "incident.resolved") by the user agentID
// ("" for none), with the incident's current state as its data, signed
// with secret. Each call is a new delivery: new event and webhook IDs.
// An incident.resolved occurred when the incident resolved; any other
// event now.
func (s *Server) IncidentWebhook(incidentID, eventType, agentID, secret string) Webhook {
	s.mu.Lock()
	x := s.mustIncident(incidentID)
	data := s.webhookIncident(x)
	var agent any
	if agentID != "" {
		agent = s.userRef(s.mustUser(agentID).ID)
	}
	at := s.now()
	if eventType == "incident.resolved" && x.Status == StatusResolved && !x.ResolvedAt.IsZero() {
		// The event occurred when the incident resolved, however late
		// the delivery (a retry, or a test resolving in the past).
		at = x.ResolvedAt
	}
	s.mu.Unlock()
	body, err := json.Marshal(map[string]any{"event": map[string]any{
		"id": newID(26), "event_type": eventType, "resource_type": "incident",
		"occurred_at": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"agent":       agent, "client": nil, "data": data,
	}})
	if err != nil {
		panic(fmt.Sprintf("pagerdutysim: encode webhook: %v", err))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return Webhook{Body: body, Headers: map[string]string{
		"Content-Type":           "application/json",
		"User-Agent":             "PagerDuty-Webhook/V3.0",
		"X-Webhook-Id":           newID(36),
		"X-Webhook-Subscription": "PSUBSIM",
		"X-PagerDuty-Signature":  "v1=" + hex.EncodeToString(mac.Sum(nil)),
	}}
}

// webhookIncident is an incident as webhook data: the REST shape less
// what webhooks leave out. Runs under s.mu.
func (s *Server) webhookIncident(x *incident) map[string]any {
	m := s.incidentJSON(x, view{loc: time.UTC, includes: map[string]bool{}})
	assignees := []any{}
	for _, a := range x.Assignments {
		assignees = append(assignees, s.userRef(a.UserID))
	}
	out := map[string]any{
		"type": "incident", "number": x.Number, "assignees": assignees, "escalation_policy": nil,
		"conference_bridge": nil, "teams": s.teamsJSON(x.Teams), "incident_type": map[string]any{"name": "incident_default"},
	}
	for _, k := range []string{"id", "self", "html_url", "status", "incident_key", "created_at", "title",
		"service", "priority", "urgency", "resolve_reason"} {
		out[k] = m[k]
	}
	// Webhooks carry the conference bridge (PagerDuty's data.incident
	// sample), null when the incident has none.
	if x.Conference != nil {
		out["conference_bridge"] = s.conferenceJSON(x.Conference)
	}
	return out
}

// newID is a random upper-case ID of n characters, like PagerDuty's.
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[int(c)%len(digits)])
	}
	return sb.String()
}
