// Package pagerdutytest is the PagerDuty simulator for tests: New starts a
// pagerdutysim server that validates every request against the official
// OpenAPI document and fails the test on a violation.
//
// The simulator itself lives in pagerdutysim, which the production binary
// links for aftermath demo; validation (kin-openapi) and the testing
// package stay here, out of that binary. The names below are
// pagerdutysim's, so tests need only this package.
package pagerdutytest

import "github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"

// The simulator's types; see pagerdutysim.
type (
	Server           = pagerdutysim.Server
	Options          = pagerdutysim.Options
	Fault            = pagerdutysim.Fault
	Call             = pagerdutysim.Call
	User             = pagerdutysim.User
	Service          = pagerdutysim.Service
	Priority         = pagerdutysim.Priority
	NewIncident      = pagerdutysim.NewIncident
	Incident         = pagerdutysim.Incident
	Assignment       = pagerdutysim.Assignment
	Acknowledgement  = pagerdutysim.Acknowledgement
	ResolveReason    = pagerdutysim.ResolveReason
	LogEntry         = pagerdutysim.LogEntry
	Note             = pagerdutysim.Note
	Webhook          = pagerdutysim.Webhook
	ConferenceBridge = pagerdutysim.ConferenceBridge
	Team             = pagerdutysim.Team
)

// Incident statuses, as PagerDuty spells them.
const (
	StatusTriggered    = pagerdutysim.StatusTriggered
	StatusAcknowledged = pagerdutysim.StatusAcknowledged
	StatusResolved     = pagerdutysim.StatusResolved
)

// Log entry types the simulator writes; see pagerdutysim.
const (
	TriggerLogEntry        = pagerdutysim.TriggerLogEntry
	AcknowledgeLogEntry    = pagerdutysim.AcknowledgeLogEntry
	UnacknowledgeLogEntry  = pagerdutysim.UnacknowledgeLogEntry
	AssignLogEntry         = pagerdutysim.AssignLogEntry
	EscalateLogEntry       = pagerdutysim.EscalateLogEntry
	AnnotateLogEntry       = pagerdutysim.AnnotateLogEntry
	ResolveLogEntry        = pagerdutysim.ResolveLogEntry
	NotifyLogEntry         = pagerdutysim.NotifyLogEntry
	PriorityChangeLogEntry = pagerdutysim.PriorityChangeLogEntry
	UrgencyChangeLogEntry  = pagerdutysim.UrgencyChangeLogEntry
)

// SampleIncidentID is the incident of the signed webhook samples; see
// Server.SeedWebhookSample.
const SampleIncidentID = pagerdutysim.SampleIncidentID

// NewServer starts a simulator without spec validation unless
// opts.Validate is set; tests normally want New.
func NewServer(opts Options) *Server { return pagerdutysim.NewServer(opts) }

// Routes lists the simulated routes, sorted.
func Routes() []string { return pagerdutysim.Routes() }
