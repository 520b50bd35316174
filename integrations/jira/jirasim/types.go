package jirasim

import (
	"net/http"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// Mode is the Jira deployment the server imitates.
type Mode string

// The two deployments. They share REST API v2 but differ in authentication,
// user identity (accountId against username), epics (parent against the
// Epic Link custom field) and search (/search/jql against /search).
const (
	Cloud      Mode = "cloud"
	DataCenter Mode = "datacenter"
)

// Workflow statuses, in workflow order. Every issue starts in StatusToDo.
const (
	StatusToDo       = "To Do"
	StatusInProgress = "In Progress"
	StatusInReview   = "In Review"
	StatusReviewed   = "Reviewed"
	StatusDone       = "Done"
)

// Data Center's epic custom fields (Jira Software's defaults on a fresh
// instance); Cloud has neither and links an issue to its epic with parent.
const (
	EpicLinkField = "customfield_10014"
	EpicNameField = "customfield_10011"
)

// The user every request authenticates as ("myself"), seeded by NewServer:
// its email is Options.Email.
const (
	BotAccountID   = "557058:00000000-0000-4000-8000-0000000000b0"
	BotName        = "aftermath-bot"
	BotKey         = "JIRAUSER10000"
	BotDisplayName = "Aftermath Bot"
)

// The RateLimit-Reason values Jira Cloud answers a 429 with: which of its
// limits the request hit.
const (
	RateLimitBurst     = "jira-burst-based"        // requests per second, per endpoint and method
	RateLimitPerIssue  = "jira-per-issue-on-write" // writes to one issue
	RateLimitQuotaApp  = "jira-quota-global-based" // an app's hourly points quota
	RateLimitQuotaSite = "jira-quota-tenant-based" // an app's hourly points quota on one site
)

// Options configures a Server.
type Options struct {
	// Mode is the deployment imitated; default Cloud.
	Mode Mode
	// Email and APIToken are the Cloud basic-auth credentials; defaults
	// "bot@example.com" and "jira-api-token".
	Email    string
	APIToken string
	// PAT is the Data Center personal access token, sent as
	// "Authorization: Bearer <PAT>"; default "jira-pat".
	PAT string
	// Validate, when set, sees every authenticated request with its body.
	// A non-nil error is recorded as a violation and answered 400.
	Validate func(r *http.Request, body []byte) error
	// Now is the clock for writes made through the API and for SearchLag;
	// default time.Now.
	Now func() time.Time
	// SearchLag is how long after a change search results reflect it: until
	// then a new issue is missing from them and a changed one is found (and
	// shown) as it was. 0 means at once. As on Cloud, /search/jql shows
	// the issues whose ids a search names in reconcileIssues as they are
	// now.
	SearchLag time.Duration
	// TextLimit is the most characters (UTF-16 units) a description,
	// environment or comment may hold: Jira's advanced setting
	// jira.text.field.character.limit, which administrators may lower.
	// Default MaxText, Jira's default.
	TextLimit int
	// CloudID is the site's cloud ID: the API is served under
	// /ex/jira/{CloudID} too, as Atlassian's gateway serves it to scoped
	// API tokens (see Server.APIURL). Default DefaultCloudID.
	CloudID string
}

// DefaultCloudID is the cloud ID of a simulated site unless Options say
// otherwise.
const DefaultCloudID = "0f0e0d0c-0b0a-4909-8807-060504030201"

// Project is a Jira project. IssueTypes defaults to Epic, Task, Story, Bug.
type Project struct {
	Key        string
	Name       string
	IssueTypes []string
}

// User is a Jira user. Cloud identifies users by AccountID, Data Center by
// Name (the username) and Key.
type User struct {
	AccountID   string
	Name        string
	Key         string
	Email       string
	DisplayName string
	Active      bool
}

// Issue is a snapshot of an issue's state.
type Issue struct {
	ID        string
	Key       string
	Project   string // project key
	IssueType string // issue type name
	Summary   string
	// Description and Environment are the wiki-markup strings of API v2.
	Description string
	Environment string
	Labels      []string // sorted, without duplicates, as Jira keeps them
	// Assignee and Reporter are accountIds on Cloud and usernames on Data
	// Center; "" is unassigned.
	Assignee string
	Reporter string
	DueDate  string // YYYY-MM-DD or ""
	Priority string // priority name
	Status   string // one of the Status* constants
	// Parent is the key of the issue's epic: parent on Cloud, the Epic Link
	// field on Data Center.
	Parent string
	// EpicName is the Epic Name field of a Data Center epic.
	EpicName string
	Comments []Comment
	Created  time.Time
	Updated  time.Time
	// ResolutionDate is when the issue last entered Done; zero otherwise.
	ResolutionDate time.Time
}

// Comment is a comment on an issue. Author is an accountId on Cloud and a
// username on Data Center.
type Comment struct {
	ID      string
	Author  string
	Body    string
	Created time.Time
}

// Call is one request the server received. Route is "METHOD
// /rest/api/2/template" as listed by Routes, or "METHOD /raw/path" when no
// route matched. From is the request's From header, which Jira does not
// use: empty unless a client sends one.
type Call = simkit.Call

// Fault makes the server misbehave on a route; see Server.Inject.
type Fault struct {
	Status     int    // e.g. 429, 500, 503; 0 = answer normally (after Latency)
	Times      int    // how many matching requests get the fault (0 = 1)
	RetryAfter string // Retry-After header value, if set
	// RateLimitReason is the RateLimit-Reason header of a 429: which of
	// Jira Cloud's limits was hit (RateLimit* constants).
	RateLimitReason string
	Latency         time.Duration // delay before answering
	AfterApply      bool          // perform the request's effect first, then answer with Status
}
