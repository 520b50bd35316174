// Package confluencetest is the Confluence simulator for tests: New starts
// a confluencesim server that validates every Cloud REST v2 request, and
// every answer to one, against Atlassian's official OpenAPI document, and
// fails the test on a violation.
//
// The simulator itself lives in confluencesim, which the production binary
// may link for aftermath demo; validation (kin-openapi) and the testing
// package stay here, out of that binary. The names below are
// confluencesim's, so tests need only this package.
package confluencetest

import "github.com/aftermath-dev/aftermath/integrations/confluence/confluencesim"

// The simulator's types; see confluencesim.
type (
	Server  = confluencesim.Server
	Options = confluencesim.Options
	Mode    = confluencesim.Mode
	Fault   = confluencesim.Fault
	Call    = confluencesim.Call
	Space   = confluencesim.Space
	User    = confluencesim.User
	Page    = confluencesim.Page
	Version = confluencesim.Version
	Comment = confluencesim.Comment
)

// The two deployments the simulator imitates.
const (
	Cloud      = confluencesim.Cloud
	DataCenter = confluencesim.DataCenter
)

// The user every request authenticates as.
const (
	BotAccountID   = confluencesim.BotAccountID
	BotUsername    = confluencesim.BotUsername
	BotUserKey     = confluencesim.BotUserKey
	BotDisplayName = confluencesim.BotDisplayName
)

// NewServer starts a simulator without spec validation unless
// opts.Validate is set; tests normally want New.
func NewServer(opts Options) *Server { return confluencesim.NewServer(opts) }

// Routes lists the simulated routes, sorted.
func Routes() []string { return confluencesim.Routes() }
