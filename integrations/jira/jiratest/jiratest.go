// Package jiratest is the Jira simulator for tests: New starts a jirasim
// server that validates every request against Atlassian's official OpenAPI
// document and fails the test on a violation.
//
// The simulator itself lives in jirasim, which the production binary links
// for aftermath demo; validation (kin-openapi) and the testing package stay
// here, out of that binary. The names below are jirasim's, so tests need
// only this package.
package jiratest

import "github.com/aftermath-dev/aftermath/integrations/jira/jirasim"

// The simulator's types; see jirasim.
type (
	Server  = jirasim.Server
	Options = jirasim.Options
	Mode    = jirasim.Mode
	Fault   = jirasim.Fault
	Call    = jirasim.Call
	Project = jirasim.Project
	User    = jirasim.User
	Issue   = jirasim.Issue
	Comment = jirasim.Comment
)

// The two deployments the simulator imitates.
const (
	Cloud      = jirasim.Cloud
	DataCenter = jirasim.DataCenter
)

// Workflow statuses, in workflow order.
const (
	StatusToDo       = jirasim.StatusToDo
	StatusInProgress = jirasim.StatusInProgress
	StatusInReview   = jirasim.StatusInReview
	StatusReviewed   = jirasim.StatusReviewed
	StatusDone       = jirasim.StatusDone
)

// Data Center's epic custom fields.
const (
	EpicLinkField = jirasim.EpicLinkField
	EpicNameField = jirasim.EpicNameField
)

// The RateLimit-Reason values of Jira Cloud's 429s.
const (
	RateLimitBurst     = jirasim.RateLimitBurst
	RateLimitPerIssue  = jirasim.RateLimitPerIssue
	RateLimitQuotaApp  = jirasim.RateLimitQuotaApp
	RateLimitQuotaSite = jirasim.RateLimitQuotaSite
)

// The user every request authenticates as ("myself").
const (
	BotAccountID   = jirasim.BotAccountID
	BotName        = jirasim.BotName
	BotKey         = jirasim.BotKey
	BotDisplayName = jirasim.BotDisplayName
)

// DefaultIssueTypes is jirasim.DefaultIssueTypes: the same slice, so an
// element changed through either name is changed for both.
var DefaultIssueTypes = jirasim.DefaultIssueTypes

// NewServer starts a simulator without spec validation unless
// opts.Validate is set; tests normally want New.
func NewServer(opts Options) *Server { return jirasim.NewServer(opts) }

// Routes lists the simulated routes, sorted.
func Routes() []string { return jirasim.Routes() }
