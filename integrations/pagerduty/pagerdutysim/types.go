package pagerdutysim

import (
	"net/http"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// Incident statuses, as PagerDuty spells them.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Log entry types the simulator writes. PriorityChangeLogEntry is what the
// real API returns although the spec's LogEntry enum does not list it.
const (
	TriggerLogEntry        = "trigger_log_entry"
	AcknowledgeLogEntry    = "acknowledge_log_entry"
	UnacknowledgeLogEntry  = "unacknowledge_log_entry"
	AssignLogEntry         = "assign_log_entry"
	EscalateLogEntry       = "escalate_log_entry"
	AnnotateLogEntry       = "annotate_log_entry"
	ResolveLogEntry        = "resolve_log_entry"
	NotifyLogEntry         = "notify_log_entry"
	PriorityChangeLogEntry = "priority_change_log_entry"
	UrgencyChangeLogEntry  = "urgency_change_log_entry"
)

// Options configures a Server.
type Options struct {
	// Token is the API token requests must carry as
	// "Authorization: Token token=<Token>"; default "sim-token".
	Token string
	// Validate, when set, sees every authenticated request with its body.
	// A non-nil error is recorded as a violation and answered 400.
	Validate func(r *http.Request, body []byte) error
	// Now is the clock for writes made through the API and for the default
	// date range of GET /incidents; default time.Now.
	Now func() time.Time
}

// User is a PagerDuty user. Email is what the From header must name.
type User struct {
	ID    string
	Name  string
	Email string
}

// Service is a PagerDuty service.
type Service struct {
	ID   string
	Name string
}

// Team is a PagerDuty team; an incident belongs to its escalation
// policy's teams.
type Team struct {
	ID   string
	Name string
}

// Priority is an incident priority. Order is its rank, 1 being the most
// severe (P1).
type Priority struct {
	ID    string
	Name  string
	Order int
}

// NewIncident describes an incident to seed with AddIncident.
type NewIncident struct {
	ID        string // "" = generated
	Number    int    // 0 = one more than the highest number so far
	Title     string
	ServiceID string // must name a service added with AddService
	Priority  string // priority name such as "P1"; "" = none
	Urgency   string // "high" (default) or "low"
	CreatedAt time.Time
	// TriggeredBy is the user who triggered the incident from the website,
	// or "" when the service's integration did (through the API).
	TriggeredBy string
	// Conference is the incident's conference bridge; nil = none.
	Conference *ConferenceBridge
	// Teams are the incident's teams (its escalation policy's); none by
	// default, as on an account without teams.
	Teams []Team
}

// ConferenceBridge is where an incident's responders meet. PagerDuty
// returns it only to requests with include[]=conference_bridge.
type ConferenceBridge struct {
	URL    string // conference_url
	Number string // conference_number, e.g. "+1-415-555-1212,,,,1234#"
}

// Incident is a snapshot of an incident's state.
type Incident struct {
	ID                 string
	Number             int
	Title              string
	Status             string // StatusTriggered, StatusAcknowledged or StatusResolved
	ServiceID          string
	Priority           string // priority name, "" for none
	Urgency            string
	CreatedAt          time.Time
	UpdatedAt          time.Time
	LastStatusChangeAt time.Time
	LastStatusChangeBy string    // user ID, or "" when the service changed it
	ResolvedAt         time.Time // zero unless resolved
	Assignments        []Assignment
	Acknowledgements   []Acknowledgement
	ResolveReason      *ResolveReason    // set when the incident was merged away
	Alerts             int               // number of alerts, grown by merges
	Conference         *ConferenceBridge // nil = none
	Teams              []Team
	HTMLURL            string
	LogEntries         []LogEntry // oldest first
	Notes              []Note     // oldest first
}

// Assignment says a user is assigned to an incident since At.
type Assignment struct {
	UserID string
	At     time.Time
}

// Acknowledgement says a user acknowledged an incident at At.
type Acknowledgement struct {
	UserID string
	At     time.Time
}

// ResolveReason explains a resolution; the only type is
// "merge_resolve_reason", naming the incident merged into.
type ResolveReason struct {
	Type       string
	IncidentID string
}

// Note is a note on an incident.
type Note struct {
	ID         string
	IncidentID string
	UserID     string
	Content    string
	CreatedAt  time.Time
}

// LogEntry is one entry of an incident's log.
type LogEntry struct {
	ID         string
	Type       string // one of the *LogEntry constants
	IncidentID string
	CreatedAt  time.Time
	// AgentType is "user_reference" or "service_reference"; AgentID names
	// the user or the service.
	AgentType string
	AgentID   string
	// Channel is the channel type: "api", "website", "web_trigger", "note",
	// "auto" or "timeout".
	Channel   string
	Summary   string
	Assignees []string // user IDs, for assign and escalate entries
	UserID    string   // the notified user, for notify entries
	Note      string   // annotate content or resolve resolution
	// OldPriority and NewPriority are priority names ("" = none) for
	// priority_change entries; OldUrgency and NewUrgency for urgency_change.
	OldPriority, NewPriority string
	OldUrgency, NewUrgency   string
}

// Call is one request the server received. Route is "METHOD
// /path/template" as listed by Routes, or "METHOD /raw/path" when no route
// matched; From is the request's From header.
type Call = simkit.Call

// Fault makes the server misbehave on a route; see Server.Inject.
type Fault struct {
	Status         int           // e.g. 429, 500, 502, 503; 0 = answer normally (after Latency)
	Times          int           // how many matching requests get the fault (0 = 1)
	RetryAfter     string        // Retry-After header value, if set
	RateLimitReset string        // ratelimit-reset header (with ratelimit-limit: 960, ratelimit-remaining: 0), if set
	Latency        time.Duration // delay before answering
	AfterApply     bool          // perform the request's effect first, then answer with Status
}
