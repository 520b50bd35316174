// Package rules is the rules file ops edit: which incidents get the
// post-incident process, how they are grouped, who owns the post-mortem, where
// its Jira issues go, the standard follow-ups, deadlines, reminders, the status
// map and who is told.
//
// Loading is strict and explained: every problem in a file (unknown keys,
// wrong types, duplicate keys, bad values, dangling references) is reported at
// once, each as FILE:LINE:COL: message. Defaults are filled in one place
// (defaults.go); the matching API (match.go) is what the workflow uses.
package rules

import (
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/rickar/cal/v2"
)

// Rules is one loaded, validated rules file. Treat it as read-only: reload
// swaps in a new value, and work in progress keeps the one it started with.
type Rules struct {
	// Version of the file format; 1.
	Version int `yaml:"version" enum:"1" doc:"Format version of the file. Only 1 exists."`
	// Timezone in which deadlines and date labels are computed.
	Timezone string `yaml:"timezone" doc:"IANA time zone in which deadlines and date labels are computed, e.g. America/New_York."`
	// Holidays are skipped when counting business days.
	Holidays Holidays `yaml:"holidays" doc:"Days that are not business days, besides weekends."`
	// Severities, first match wins.
	Severities []Severity `yaml:"severities" doc:"Severity levels, tried in order: an incident gets the first whose priorities include its PagerDuty priority."`
	// Process lists the severities that get the post-incident process.
	Process []string `yaml:"process" doc:"Names of the severities that get the post-incident process; others are recorded as skipped."`
	// Grouping of related incidents under the primary.
	Grouping Grouping `yaml:"grouping" doc:"How related incidents are grouped under the primary incident."`
	// Owner of the post-mortem.
	Owner Owner `yaml:"owner" doc:"Who owns the post-mortem (the epic's assignee)."`
	// Jira says where the post-mortem and follow-ups go.
	Jira Jira `yaml:"jira" doc:"Where the post-mortem epic and follow-up tickets are created."`
	// Followups are the tickets under the epic.
	Followups Followups `yaml:"followups" doc:"Follow-up tickets created under the epic."`
	// Reminders before and after the meeting deadline.
	Reminders Reminders `yaml:"reminders" doc:"When the owner is reminded."`
	// StatusMap maps the epic's Jira status to the post-mortem status.
	StatusMap map[string]string `yaml:"status_map" enum:"Draft,In Review,Reviewed,Closed" doc:"Jira status of the epic -> post-mortem status (Draft, In Review, Reviewed or Closed). Reminders stop at Reviewed or Closed."`
	// StatusSync reads the epics' statuses from Jira.
	StatusSync StatusSync `yaml:"status_sync" doc:"How the post-mortem status follows the epic's Jira status (besides POST /webhooks/jira)."`
	// CustomerLiaison posts the external message on the status page.
	CustomerLiaison string `yaml:"customer_liaison" doc:"Email of the customer liaison: when a post-mortem whose page has an external message reaches Reviewed, they are asked on the epic to post it on the status page. Empty: nobody is asked."`
	// Notify lists who is told when a post-mortem is created.
	Notify []Notify `yaml:"notify" doc:"Who is told about post-mortems (made, review due, overdue, Reviewed): each entry is an email list or a Slack webhook, optionally only for some severities or services."`
	// People names who answers for each service: the meeting's invitees.
	People People `yaml:"people" doc:"Who answers for the services: their owners and managers are invited to the post-mortem meeting of an incident on them."`
	// Page turns the post-mortem page's optional sections on or off.
	Page Page `yaml:"page" doc:"The post-mortem page's optional sections, each on by default, and the language review at In Review."`
	// Templates override the rendered Jira text.
	Templates Templates `yaml:"templates" doc:"Go text/template overrides for the Jira epic's summary and description."`
	// CatchUp finds resolutions whose webhook never came.
	CatchUp CatchUp `yaml:"catch_up" doc:"The catch-up sweep: every so often one replica asks PagerDuty which incidents resolved and queues those aftermath has no record of, as a late webhook would be."`
	// Recurrence links an incident to the open follow-ups of earlier
	// post-mortems on its services.
	Recurrence Recurrence `yaml:"recurrence" doc:"When an incident resolves on a service whose earlier post-mortem still has open follow-ups, aftermath says so on that post-mortem, on the new incident and on its post-mortem."`
	// Digest is the managers' periodic summary.
	Digest Digest `yaml:"digest" doc:"The managers' digest: one message a period (post-mortems opened, reviewed and overdue, follow-ups overdue, completion, recurrences), by email and Slack. No recipients: no digest."`
	// Confluence says where the post-mortem page goes when page.target is
	// confluence (confluence.go).
	Confluence Confluence `yaml:"confluence" doc:"Where the post-mortem page is created when page.target is confluence: the space, an optional parent page, and spaces per service."`
	// ExternalMessage posts the page's external message on a PagerDuty
	// status page at Reviewed.
	ExternalMessage ExternalMessage `yaml:"external_message" doc:"The post-mortem page's external message on a PagerDuty status page: at Reviewed, aftermath puts it as the postmortem of the status-page post linked to the primary incident, says so on the epic and moves the epic to Closed."`

	c compiled // derived at load, see compile
}

// Holidays are the days off.
type Holidays struct {
	Calendar string `yaml:"calendar" enum:"holiday-calendars" doc:"A built-in public holiday calendar by country code (see docs/rules.md), or empty for none."`
	Dates    []Date `yaml:"dates" doc:"Company days off, as YYYY-MM-DD."`
}

// Severity is one SEV level.
type Severity struct {
	Name         string   `yaml:"name" doc:"The level's name, e.g. SEV-1. Used in labels as sev-1."`
	Priorities   []string `yaml:"priorities" doc:"PagerDuty priority names (e.g. P1) that map to this level."`
	MeetingDue   Due      `yaml:"meeting_due" doc:"Deadline of the post-mortem meeting after the incident resolves: \"N calendar days\" or \"N business days\"."`
	JiraPriority string   `yaml:"jira_priority" doc:"Jira priority name of the epic for this level, e.g. Highest. Empty: Jira's default."`
}

// Grouping configures how related incidents are found and grouped.
type Grouping struct {
	Window              Duration `yaml:"window" doc:"Incidents in one scope are related when one triggered within this long of the other's lifetime (from this long before it triggered to this long after it resolved). Go duration, e.g. 30m."`
	Scopes              []Scope  `yaml:"scopes" doc:"Sets of PagerDuty services whose incidents are related to each other. A service is in at most one scope."`
	ResolveOpenMembers  bool     `yaml:"resolve_open_members" doc:"Resolve related incidents still open when the primary resolves."`
	MergeWhileOpen      bool     `yaml:"merge_while_open" doc:"Merge an incident that triggers while a related SEV primary is still open into that primary (PagerDuty merge)."`
	RelatedIncidentsAPI bool     `yaml:"related_incidents_api" doc:"Also ask PagerDuty's related-incidents API (needs a plan that has it)."`
}

// Scope is a set of related services.
type Scope struct {
	Name     string   `yaml:"name" doc:"The scope's name, for people."`
	Services []string `yaml:"services" pattern:"service" doc:"PagerDuty service IDs, e.g. PSVC001."`
}

// Owner sources, tried in the order of Owner.From.
const (
	SourceOverride     = "override"
	SourceResolver     = "resolver"
	SourceLastAssignee = "last_assignee"
)

// Owner says who owns the post-mortem.
type Owner struct {
	From      []string        `yaml:"from" enum:"override,resolver,last_assignee" doc:"Owner sources tried in order: override (the per-service owner below), resolver (who resolved the incident), last_assignee."`
	Fallback  string          `yaml:"fallback" pattern:"email" doc:"Email of the owner when no source gives a Jira user. Empty: the epic is created unassigned, with a comment saying why."`
	Overrides []OwnerOverride `yaml:"overrides" doc:"Fixed owners for some services, used where from lists override."`
}

// OwnerOverride names the owner for some services.
type OwnerOverride struct {
	Services []string `yaml:"services" pattern:"service" doc:"PagerDuty service IDs."`
	Owner    string   `yaml:"owner" pattern:"email" doc:"Email of the owner of these services' post-mortems."`
}

// Jira deployments.
const (
	DeploymentAuto       = "auto"
	DeploymentCloud      = "cloud"
	DeploymentDataCenter = "datacenter"
)

// Jira says where issues go.
type Jira struct {
	Deployment        string      `yaml:"deployment" enum:"auto,cloud,datacenter" doc:"auto (ask the server), cloud or datacenter."`
	Project           string      `yaml:"project" pattern:"project" doc:"Key of the Jira project for post-mortems, e.g. PM."`
	EpicIssueType     string      `yaml:"epic_issue_type" doc:"Issue type of the post-mortem."`
	FollowupIssueType string      `yaml:"followup_issue_type" doc:"Issue type of the follow-up tickets."`
	Labels            []string    `yaml:"labels" pattern:"label" doc:"Labels added to the epic and tickets, besides the severity (sev-1) and date (incident-YYYY-MM-DD) labels."`
	Routes            []JiraRoute `yaml:"routes" doc:"Services whose post-mortems go to another project."`
	EpicLinkField     string      `yaml:"epic_link_field" pattern:"customfield" doc:"Data Center only: the Epic Link custom field ID (customfield_NNNNN). Empty: found through the field list."`
	EpicNameField     string      `yaml:"epic_name_field" pattern:"customfield" doc:"Data Center only: the Epic Name custom field ID (customfield_NNNNN). Empty: found through the field list."`
}

// JiraRoute sends some services' post-mortems to another project.
type JiraRoute struct {
	Services []string `yaml:"services" pattern:"service" doc:"PagerDuty service IDs."`
	Project  string   `yaml:"project" pattern:"project" doc:"Jira project key for these services."`
}

// Followups configures the follow-up tickets.
type Followups struct {
	FromNotes bool               `yaml:"from_notes" doc:"Create a ticket for each TODO item found in the incidents' notes."`
	Markers   []string           `yaml:"markers" doc:"Note lines starting with one of these (case-insensitive) are TODO items."`
	Max       int                `yaml:"max" doc:"At most this many tickets; the rest are listed in the epic's description."`
	Standard  []StandardFollowup `yaml:"standard" doc:"Tickets created for every post-mortem of the given severities."`
	// Due is each follow-up's due date by severity (none: no due date).
	Due map[string]Due `yaml:"due" doc:"Due date of each follow-up ticket, per severity, counted from the day the incident resolved like meeting_due (\"N calendar days\" or \"N business days\", skipping the holidays), e.g. SEV-1: 20 business days. Set as the ticket's Jira due date when it is created, and on a ticket a person adds under the epic when the status sync first sees it without one. A severity not listed: no due date."`
	// RemindEvery and MaxReminders bound the reminders of an overdue
	// follow-up.
	RemindEvery  Duration `yaml:"remind_every" doc:"A follow-up past its due date and not done gets a comment on its ticket, then another this often. Go duration, at least 1h, e.g. 168h (a week)."`
	MaxReminders int      `yaml:"max_reminders" doc:"How many reminders an overdue follow-up gets at most, then silence (0: none)."`
}

// Recurrence configures how an incident is linked to earlier post-mortems.
type Recurrence struct {
	Window Duration `yaml:"window" doc:"An incident recurs when it resolves within this long after an earlier post-mortem's incident resolved on the same service (or in the same grouping scope) while that post-mortem has open follow-ups. Go duration, from 1h to 8760h (a year), e.g. 2160h (90 days)."`
}

// Digest configures the managers' digest.
type Digest struct {
	Every           Every                   `yaml:"every" doc:"The digest's period: a Go duration (at least 1h, e.g. 168h), or a weekday and a time in the rules' timezone (e.g. monday 09:00), when each period ends and its digest is sent."`
	Email           []string                `yaml:"email" pattern:"email" doc:"Email addresses of the managers who get the digest of every team."`
	SlackWebhookEnv string                  `yaml:"slack_webhook_env" pattern:"envname" doc:"Name of the environment variable holding the Slack incoming-webhook URL the digest of every team is posted to."`
	Teams           map[string]DigestTarget `yaml:"teams" doc:"A digest per PagerDuty team (by team ID, e.g. PTEAM01), holding only the post-mortems of incidents of that team, to these recipients."`
}

// ExternalMessage says where the external message goes at Reviewed.
type ExternalMessage struct {
	StatusPage        string `yaml:"status_page" pattern:"pd_id" doc:"ID of the PagerDuty status page (e.g. PSTATUS1) whose post linked to the primary incident gets the page's external message as its postmortem. Empty: off (customer_liaison is asked instead, when set)."`
	NotifySubscribers bool   `yaml:"notify_subscribers" doc:"Whether the status page's subscribers are notified of the postmortem."`
	// CloseWithoutExternalMessage closes post-mortems that have nothing
	// to tell customers.
	CloseWithoutExternalMessage bool `yaml:"close_without_external_message" doc:"When the page has no external message at Reviewed, move the epic to Closed (the transition to a Jira status that status_map maps to Closed). False: leave it at Reviewed."`
}

// DigestTarget is where one team's digest goes.
type DigestTarget struct {
	Email           []string `yaml:"email" pattern:"email" doc:"Email addresses."`
	SlackWebhookEnv string   `yaml:"slack_webhook_env" pattern:"envname" doc:"Name of the environment variable holding a Slack incoming-webhook URL."`
}

// StandardFollowup is a ticket every post-mortem of some severities gets.
type StandardFollowup struct {
	Summary     string   `yaml:"summary" doc:"The ticket's summary."`
	Description string   `yaml:"description" doc:"The ticket's description (Jira wiki markup)."`
	Severities  []string `yaml:"severities" doc:"Severities that get it. Empty: every severity in process."`
}

// Reminders configures reminders to the owner.
type Reminders struct {
	ReviewBeforeMeeting Duration `yaml:"review_before_meeting" doc:"The draft is due for review this long before the meeting deadline."`
	RepeatOverdueEvery  Duration `yaml:"repeat_overdue_every" doc:"Once a deadline passed, remind again this often until the post-mortem is Reviewed or Closed."`
	MaxOverdue          int      `yaml:"max_overdue" doc:"How many overdue reminders at most, then silence (0: none)."`
}

// StatusSync configures how the post-mortems' statuses are read from Jira.
type StatusSync struct {
	Every Duration `yaml:"every" doc:"How often the epics' Jira statuses are read, across all replicas together (one replica syncs per interval). Go duration, at least 1s, at most 24h, e.g. 5m."`
}

// CatchUp configures the catch-up sweep in serve.
type CatchUp struct {
	Enabled  bool     `yaml:"enabled" doc:"Run the sweep (in processes with the worker role). false turns it off."`
	Every    Duration `yaml:"every" doc:"How often the sweep runs, across all replicas together (one replica sweeps per interval). Go duration, at least 1s, at most 24h, e.g. 10m."`
	LookBack Duration `yaml:"look_back" doc:"How far back the first sweep looks (no cursor in Redis yet), and the longest a sweep ever looks back. Go duration, at least every, at most 720h (30 days), e.g. 48h."`
}

// Notify is one recipient of the post-mortems' messages.
type Notify struct {
	Email           []string `yaml:"email" pattern:"email" doc:"Email addresses."`
	SlackWebhookEnv string   `yaml:"slack_webhook_env" pattern:"envname" doc:"Name of the environment variable holding a Slack incoming-webhook URL (the URL is a secret: never in this file)."`
	Severities      []string `yaml:"severities" doc:"Only post-mortems of these severities. Empty: every severity."`
	Services        []string `yaml:"services" pattern:"service" doc:"Only post-mortems of incidents on one of these PagerDuty services. Empty: every service."`
}

// People names who answers for the services.
type People struct {
	Services []ServicePeople `yaml:"services" doc:"Owners and managers, per set of PagerDuty services."`
}

// ServicePeople are the owners and managers of some services.
type ServicePeople struct {
	Services            []string `yaml:"services" pattern:"service" doc:"PagerDuty service IDs, e.g. PSVC001."`
	Owners              []string `yaml:"owners" pattern:"email" doc:"Emails of the services' owners (invited to the meeting)."`
	EngineeringManagers []string `yaml:"engineering_managers" pattern:"email" doc:"Emails of the services' engineering managers (invited to the meeting)."`
	ProductManagers     []string `yaml:"product_managers" pattern:"email" doc:"Emails of the services' product managers (invited to the meeting)."`
}

// Page configures the post-mortem page's optional sections and the
// language review.
type Page struct {
	Target           string   `yaml:"target" enum:"jira,confluence" doc:"Where the post-mortem page lives: jira (the epic's description, the default) or confluence (a page in the confluence space, linked from the epic, which keeps a status panel and a short summary)."`
	ConferenceBridge bool     `yaml:"conference_bridge" doc:"The incident call (PagerDuty's conference bridge) in the Overview, with a prompt for the recording's link."`
	Durations        bool     `yaml:"durations" doc:"The response table in the Overview: per incident and for the group, who was paged first, time to acknowledge and to resolve, escalations and reassignments."`
	DataAndQueries   bool     `yaml:"data_and_queries" doc:"The Data and queries section: a prompt, and the links found in the notes (dashboards, log searches) with the note each came from."`
	ImpactFields     bool     `yaml:"impact_fields" doc:"The Impact section's prompt in terms of event submission, delayed processing, notification delivery and customers affected, with the customer-impact fields."`
	Meeting          bool     `yaml:"meeting" doc:"The Post-mortem Meeting section: due date, invitees (the incident commander and the responders) and the agenda."`
	LanguageReview   bool     `yaml:"language_review" doc:"When the post-mortem goes to In Review, one comment on the epic lists uses of outage in the External section and blame-shaped phrases on the page."`
	BlamePhrases     []string `yaml:"blame_phrases" doc:"Phrases the language review looks for besides the built-in ones (docs/rules.md lists them), matched as whole words in any case."`
}

// Templates override the rendered Jira text. Empty: the built-in template.
type Templates struct {
	EpicSummary     string `yaml:"epic_summary" doc:"Go text/template for the epic's summary."`
	EpicDescription string `yaml:"epic_description" doc:"Go text/template for the epic's description (the post-mortem page), in Jira wiki markup."`
}

// Post-mortem statuses, in order.
const (
	StatusDraft    = "Draft"
	StatusInReview = "In Review"
	StatusReviewed = "Reviewed"
	StatusClosed   = "Closed"
)

// Duration is a Go duration written as a string, e.g. "30m" or "24h".
type Duration time.Duration

func (d *Duration) decodeScalar(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like 30m, 2h or 24h", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// String returns the short Go form: 30m, 24h, 1h30m.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Due is a deadline length: N calendar days or N business days.
type Due struct {
	Days     int
	Business bool
}

func (d *Due) decodeScalar(s string) error {
	f := strings.Fields(strings.ToLower(s))
	bad := fmt.Errorf("%q is not a deadline: write \"N calendar days\" or \"N business days\", e.g. \"3 calendar days\"", s)
	if len(f) != 3 || (f[2] != "days" && f[2] != "day") {
		return bad
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || strings.Trim(f[0], "0123456789") != "" {
		return bad
	}
	switch f[1] {
	case "calendar":
	case "business":
		d.Business = true
	default:
		return bad
	}
	if n < 1 || n > 365 {
		return fmt.Errorf("%q: the number of days must be from 1 to 365", s)
	}
	d.Days = n
	return nil
}

// String returns the written form, e.g. "5 business days".
func (d Due) String() string {
	kind, unit := "calendar", "days"
	if d.Business {
		kind = "business"
	}
	if d.Days == 1 {
		unit = "day"
	}
	return fmt.Sprintf("%d %s %s", d.Days, kind, unit)
}

// Every is a period: a fixed length (Period), or a week ending at a
// weekday and time of day in the rules' timezone (Weekly).
type Every struct {
	Period  time.Duration
	Weekly  bool
	Weekday time.Weekday
	Hour    int
	Minute  int
}

func (e *Every) decodeScalar(s string) error {
	s = strings.TrimSpace(s)
	if v, err := time.ParseDuration(s); err == nil {
		if v < time.Hour || v > 31*24*time.Hour {
			return fmt.Errorf("%q: a period must be from 1h to 744h (31 days)", s)
		}
		*e = Every{Period: v}
		return nil
	}
	bad := fmt.Errorf("%q is not a period: write a duration like 168h, or a weekday and a time like \"monday 09:00\"", s)
	f := strings.Fields(strings.ToLower(s))
	if len(f) != 2 {
		return bad
	}
	day, ok := weekdays[f[0]]
	if !ok {
		return bad
	}
	t, err := time.Parse("15:04", f[1])
	if err != nil {
		return bad
	}
	*e = Every{Weekly: true, Weekday: day, Hour: t.Hour(), Minute: t.Minute()}
	return nil
}

// weekdays are the names Every reads: English, whole or in three letters.
var weekdays = func() map[string]time.Weekday {
	m := map[string]time.Weekday{}
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		m[name], m[name[:3]] = d, d
	}
	return m
}()

// String returns the written form: 168h, or monday 09:00.
func (e Every) String() string {
	if e.Weekly {
		return fmt.Sprintf("%s %02d:%02d", strings.ToLower(e.Weekday.String()), e.Hour, e.Minute)
	}
	return Duration(e.Period).String()
}

// IsZero says whether no period was written.
func (e Every) IsZero() bool { return e == Every{} }

// MarshalYAML writes an Every as it is read.
func (e Every) MarshalYAML() (any, error) { return e.String(), nil }

// Date is a calendar date written YYYY-MM-DD.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

func (d *Date) decodeScalar(s string) error {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a date: write YYYY-MM-DD", s)
	}
	d.Year, d.Month, d.Day = t.Date()
	return nil
}

// String returns YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// scalarDecoder is implemented by the types written as one string.
type scalarDecoder interface {
	decodeScalar(s string) error
}

// compiled is what loading derives from the file for fast, exact matching.
type compiled struct {
	loc         *time.Location
	calendar    *cal.BusinessCalendar
	bySeverity  map[string]*Severity
	byPriority  map[string]*Severity
	scopeOf     map[string]*Scope
	projectOf   map[string]string
	ownerOf     map[string]string
	inProcess   map[string]bool
	summaryTmpl *template.Template
	descTmpl    *template.Template
	source      string // file name, or "built-in rules"
}

// MarshalYAML writes a Duration as it is read, e.g. 30m.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalYAML writes a Due as it is read, e.g. "5 business days".
func (d Due) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalYAML writes a Date as YYYY-MM-DD.
func (d Date) MarshalYAML() (any, error) { return d.String(), nil }
