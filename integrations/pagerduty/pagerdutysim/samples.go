package pagerdutysim

import "time"

// SampleIncidentID is the incident of the signed webhook samples in
// ../shared/specs/webhooks (incident.resolved.json and the others).
const SampleIncidentID = "Q2CKYRLH85UNN4"

// SeedWebhookSample adds what the signed webhook samples talk about: their
// service, its responder Ben (PBEN), a user for aftermath's writes (PBOT,
// from), and their incident #37, triggered, acknowledged by Ben and resolved
// by him, at P1.
func (s *Server) SeedWebhookSample(from string) {
	s.AddUser(User{ID: "PBEN", Name: "Ben", Email: "ben@example.com"})
	s.AddUser(User{ID: "PBOT", Name: "aftermath", Email: from})
	s.AddService(Service{ID: "PNE3JZM", Name: "Webhook Tester"})
	created := time.Date(2025, 4, 7, 3, 47, 13, 0, time.UTC)
	s.AddIncident(NewIncident{ID: SampleIncidentID, Number: 37, Title: "Test", ServiceID: "PNE3JZM", Priority: "P1", CreatedAt: created})
	s.Acknowledge(SampleIncidentID, "PBEN", created.Add(time.Minute))
	s.Resolve(SampleIncidentID, "PBEN", created.Add(2*time.Minute))
}
