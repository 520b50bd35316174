package pagerdutytest

import "github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"

// The simulator's status-page types; see pagerdutysim.
type (
	StatusPage           = pagerdutysim.StatusPage
	NewStatusPagePost    = pagerdutysim.NewStatusPagePost
	StatusPagePost       = pagerdutysim.StatusPagePost
	StatusPagePostmortem = pagerdutysim.StatusPagePostmortem
)
