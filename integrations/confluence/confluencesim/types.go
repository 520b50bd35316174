package confluencesim

import (
	"net/http"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// Mode is the Confluence deployment the server imitates.
type Mode string

// The two deployments. Cloud serves REST v2 under /wiki/api/v2 (and v1
// under /wiki/rest/api, for labels, CQL search and the current user) with
// basic auth (email and API token); Data Center serves REST v1 under
// /rest/api with a personal access token (bearer).
const (
	Cloud      Mode = "cloud"
	DataCenter Mode = "datacenter"
)

// The user every request authenticates as: aftermath's own account. Its
// email is Options.Email.
const (
	BotAccountID   = "557058:00000000-0000-4000-8000-0000000000c1"
	BotUsername    = "aftermath-bot"
	BotUserKey     = "8a7f808a7b5c0001017b5c0000c10000"
	BotDisplayName = "Aftermath Bot"
)

// MaxTitle is the most characters a page title may have.
const MaxTitle = 255

// Options configures a Server.
type Options struct {
	// Mode is the deployment imitated; default Cloud.
	Mode Mode
	// Email and APIToken are the Cloud basic-auth credentials; defaults
	// "bot@example.com" and "confluence-api-token".
	Email    string
	APIToken string
	// PAT is the Data Center personal access token, sent as
	// "Authorization: Bearer <PAT>"; default "confluence-pat".
	PAT string
	// Validate, when set, sees every authenticated request with its body.
	// A non-nil error is recorded as a violation and answered 400.
	Validate func(r *http.Request, body []byte) error
	// ValidateResponse, when set, sees every answer the simulator gives to
	// a request it handled (not its refusals nor injected faults), with the
	// request it answers. A non-nil error is recorded as a violation; the
	// answer is sent all the same.
	ValidateResponse func(r *http.Request, status int, header http.Header, body []byte) error
	// Now is the clock for versions, comments and SearchLag; default
	// time.Now.
	Now func() time.Time
	// SearchLag is how long CQL search takes to see a label added to a
	// page, as Confluence's index does: until then the page is not found by
	// it. Reads of a page, of its labels and properties, and the v2 and
	// content listings are never late. 0 means at once.
	SearchLag time.Duration
	// PageSize is the most results one answer of a listing holds, whatever
	// limit the request asks for, as Confluence caps its limits on its own
	// terms (lower with bodies expanded); 0 leaves the documented caps,
	// 250 on v2 and 200 on v1.
	PageSize int
}

// Space is a Confluence space. A home page titled "<Name> Home" is created
// with it.
type Space struct {
	Key  string
	Name string
}

// User is a person with a Confluence account. Cloud names users by
// AccountID, Data Center by Username and UserKey.
type User struct {
	AccountID   string
	Username    string
	UserKey     string
	DisplayName string
}

// Page is a snapshot of a page's state.
type Page struct {
	ID       string
	SpaceKey string
	ParentID string // "" for a space's home page
	Title    string
	Body     string // storage format, as of the current version
	// Version is the current version's number (1 at creation); Versions
	// holds every version, oldest first.
	Version  int
	Versions []Version
	// CreatedBy is the creator's ID: an AccountID on Cloud, a UserKey on
	// Data Center, as the versions' authors.
	CreatedBy  string
	Labels     []string          // sorted
	Properties map[string]string // key -> the value's JSON
	Comments   []Comment         // footer comments, oldest first
}

// Version is one version of a page.
type Version struct {
	Number  int
	Author  string // AccountID on Cloud, UserKey on Data Center
	Message string
	Body    string
	When    time.Time
}

// Comment is a footer comment.
type Comment struct {
	ID     string
	Author string // AccountID on Cloud, UserKey on Data Center
	Body   string // storage format
	When   time.Time
}

// Call is one request the server received.
type Call = simkit.Call

// Fault makes the server misbehave on a route; see Server.Inject.
type Fault struct {
	Status     int           // e.g. 429, 500, 503; 0 = answer normally (after Latency)
	Times      int           // how many matching requests get the fault (0 = 1)
	RetryAfter string        // Retry-After header value, if set
	Latency    time.Duration // delay before answering
	AfterApply bool          // perform the request's effect first, then answer with Status
}
